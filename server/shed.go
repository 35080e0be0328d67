package server

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/argus-exec/argus/server/api"
)

// Overload. Past its limits the server answers 503 with Retry-After at
// once, before any authentication or store work, instead of letting every
// request queue and time out together: agents back off on it, and the
// requests already admitted finish in time. Two limits:
//
//   - held long-polls (MaxHeldPolls): each is an open connection and a
//     goroutine for up to MaxWait; a new poll past the limit is refused and
//     told to come back after a spread-out while, so a fleet refused
//     together does not return together;
//   - requests being served (MaxInFlight), held polls not counted, told
//     to come back in 1 to 3 s. The
//     requests that keep runs true — an agent's heartbeat, start, ack,
//     exit report, log append and goodbye — may use twice the limit: new
//     polls and users' requests are refused first, so an ack never waits
//     behind them and a lease never runs out for want of one (which would
//     hand a started command out again).
//
// /healthz and /metrics are never refused: they are how an operator sees
// the overload.

// loadClass is how a request counts against the limits.
type loadClass int

const (
	classExempt   loadClass = iota // health and metrics
	classPoll                      // an agent's jobs long-poll
	classCritical                  // an agent's heartbeat, start, ack, exit, log, offline
	classNormal                    // everything else
)

// shedder holds the counts the limits are checked against.
type shedder struct {
	maxHeld, maxInFlight int64
	held, inFlight       atomic.Int64
}

// classify sorts a request by its path alone, before routing and
// authentication, which is what shedding must stay ahead of.
func classify(r *http.Request) loadClass {
	p := r.URL.Path
	switch {
	case p == "/healthz" || p == "/metrics":
		return classExempt
	case !strings.HasPrefix(p, "/api/agents/") || r.Method == http.MethodGet && !strings.HasSuffix(p, "/jobs"):
		return classNormal
	case strings.HasSuffix(p, "/jobs"):
		return classPoll
	case strings.HasSuffix(p, "/register"):
		return classNormal
	}
	return classCritical
}

// admit decides whether r is served now. When it is, done must be called
// once it has been; when it is not, the 503 has been written.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (done func(), ok bool) {
	sh := s.shed
	class := classify(r)
	if class == classExempt {
		return func() {}, true
	}
	if class == classPoll && sh.maxHeld > 0 && sh.held.Load() >= sh.maxHeld {
		return nil, s.refuse(w, "poll", 5+rand.N(11), "this server holds as many long-polls as it may (--max-held-polls)")
	}
	limit := sh.maxInFlight
	if class == classCritical {
		limit *= 2
	}
	if n := sh.inFlight.Add(1); limit > 0 && n > limit {
		sh.inFlight.Add(-1)
		return nil, s.refuse(w, "request", 1+rand.N(3), "this server is serving as many requests as it may (--max-in-flight)")
	}
	return func() { sh.inFlight.Add(-1) }, true
}

// serveAdmitted serves r with h if the limits admit it.
func (s *Server) serveAdmitted(h http.Handler, w http.ResponseWriter, r *http.Request) {
	done, ok := s.admit(w, r)
	if !ok {
		return
	}
	defer done() // also if h panics: net/http recovers, the count must not leak
	h.ServeHTTP(w, r)
}

// holding moves a request from in flight to held, for as long as its
// long-poll is held; the returned func moves it back.
func (sh *shedder) holding() func() {
	sh.inFlight.Add(-1)
	sh.held.Add(1)
	return func() {
		sh.held.Add(-1)
		sh.inFlight.Add(1)
	}
}

// parking counts a parked poll (park.go) as held until the returned func
// is called. Unlike holding, it leaves in-flight alone: the parked poll's
// request leaves net/http, and in flight, as soon as it is parked.
func (sh *shedder) parking() func() {
	sh.held.Add(1)
	return func() { sh.held.Add(-1) }
}

func (s *Server) refuse(w http.ResponseWriter, what string, retryAfter int, why string) bool {
	s.metrics.shed.WithLabelValues(what).Inc()
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	writeJSON(w, http.StatusServiceUnavailable, api.Error{Error: "server overloaded: " + why + "; retry after " + strconv.Itoa(retryAfter) + " s"})
	return false
}
