package server

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/token"
)

// metrics is the Prometheus side of a Server. Each Server has its own
// registry, so tests can run several servers in one process.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.HistogramVec
	dispatch *prometheus.HistogramVec
	held     prometheus.Gauge
	// authRefused counts attempts refused (429) because their address had
	// spent its failed-authentication budget; via is "api" or "web".
	authRefused *prometheus.CounterVec
	// tokenLookups counts how requests' tokens were verified: "cache" or
	// "store" (tokencache.go).
	tokenLookups *prometheus.CounterVec
	// shed counts requests refused with 503 for overload (shed.go), by
	// which limit: "poll" or "request".
	shed *prometheus.CounterVec
	// retention counts what --retention deleted (retention.go).
	retention *prometheus.CounterVec
}

func newMetrics(st store.Store, cfg Config) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "argus_http_request_duration_seconds",
			Help:    "HTTP request durations by route pattern, method and status code. Long-polls include their hold.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30, 60},
		}, []string{"route", "method", "code"}),
		dispatch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "argus_command_dispatch_seconds",
			Help:    "Time from a command being queued to its first delivery to the agent.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .5, 1, 5, 30, 300},
		}, []string{"kind"}),
	}
	m.held = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "argus_jobs_polls_held",
		Help: "Jobs long-polls this replica is holding open right now: roughly, agents connected to it.",
	})
	m.authRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "argus_auth_refused_total",
		Help: "Authentication attempts refused (429) because the client address had too many failures.",
	}, []string{"via"})
	for _, via := range []string{"api", "web"} {
		m.authRefused.WithLabelValues(via) // both series exist from the start, at 0
	}
	m.tokenLookups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "argus_auth_token_lookups_total",
		Help: "Bearer tokens verified, by where from: the cache of verified tokens, or the store.",
	}, []string{"source"})
	for _, src := range []string{"cache", "store"} {
		m.tokenLookups.WithLabelValues(src)
	}
	m.shed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "argus_http_shed_total",
		Help: "Requests refused with 503 and Retry-After because the server was at a limit: held long-polls (poll) or requests in flight (request).",
	}, []string{"limit"})
	for _, l := range []string{"poll", "request"} {
		m.shed.WithLabelValues(l)
	}
	m.retention = newRetentionMetric(m.registry)
	m.registry.MustRegister(m.requests, m.dispatch, m.held, m.authRefused, m.tokenLookups, m.shed, &storeCollector{st: st, cfg: cfg},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// storeCollector reads gauges from the store at scrape time, so they are
// right across replicas sharing one database.
type storeCollector struct {
	st  store.Store
	cfg Config
}

var (
	agentsOnlineDesc = prometheus.NewDesc("argus_agents_online",
		"Agents with a heartbeat within the online window.", nil, nil)
	commandsDesc = prometheus.NewDesc("argus_commands",
		"Commands by delivery state.", []string{"state"}, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- agentsOnlineDesc
	ch <- commandsDesc
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stats, err := c.st.Stats(ctx, c.cfg.Now().Add(-c.cfg.OnlineWindow))
	if err != nil {
		ch <- prometheus.NewInvalidMetric(agentsOnlineDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(agentsOnlineDesc, prometheus.GaugeValue, float64(stats.AgentsOnline))
	for _, state := range []store.CommandState{store.CmdQueued, store.CmdDelivered, store.CmdAcked,
		store.CmdStarting, store.CmdCancelled, store.CmdExpired} {
		ch <- prometheus.MustNewConstMetric(commandsDesc, prometheus.GaugeValue,
			float64(stats.CommandsByState[state]), string(state))
	}
}

// statusWriter remembers the status code for metrics and logs, and turns
// the plain-text 404/405 answers of ServeMux into JSON ones.
type statusWriter struct {
	http.ResponseWriter
	code     int
	req      *http.Request // ServeMux sets req.Pattern before any handler runs
	dropBody bool
	// finish records the request's metric and log line; after a Hijack
	// (a parked poll, park.go) whoever took the connection calls it.
	finish   func(code int)
	hijacked bool
}

// Hijack hands the connection over (park.go); observe then leaves the
// request's metric and log line to the new owner.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	w.hijacked = err == nil
	return c, rw, err
}

// statusWriterOf finds observe's statusWriter under w, or nil.
func statusWriterOf(w http.ResponseWriter) *statusWriter {
	for {
		switch x := w.(type) {
		case *statusWriter:
			return x
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil
		}
	}
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code != 0 {
		return
	}
	w.code = code
	// No pattern matched: the answer is ServeMux's own plain-text 404 or
	// 405, rewritten as JSON like every other error.
	if w.req.Pattern == "" && code >= 400 && w.Header().Get("Content-Type") != "application/json" {
		w.dropBody = true
		w.Header().Set("Content-Type", "application/json")
		w.Header().Del("X-Content-Type-Options")
		w.ResponseWriter.WriteHeader(code)
		msg := `{"error":"` + http.StatusText(code) + `"}` + "\n"
		_, _ = w.ResponseWriter.Write([]byte(msg))
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.dropBody {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe times every request, labels it by route pattern (never by raw
// path, which holds ids), writes one access-log line, and adds HSTS to
// answers over TLS. Headers are never
// logged, so no token can reach the log; an authenticated request's line
// names its user (actor.go).
func (s *Server) observe(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, who := withActor(r.Context())
		r = r.WithContext(ctx)
		if r.TLS != nil {
			// Served over TLS (--tls-cert): browsers must not fall back to
			// plain HTTP for a year. Over plain HTTP the header means
			// nothing (RFC 6797), and a TLS proxy in front sets its own.
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		}
		sw := &statusWriter{ResponseWriter: w, req: r}
		// finish outlives the handler in a parked poll (park.go), so it
		// holds the header map, not sw: sw leads to net/http's connection
		// and its 8 KiB of buffers, which a parked poll does not need.
		header := w.Header()
		sw.finish = func(code int) {
			if code == 0 {
				code = http.StatusOK
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			elapsed := time.Since(start)
			method := methodLabel(r.Method)
			s.metrics.requests.WithLabelValues(route, method, strconv.Itoa(code)).Observe(elapsed.Seconds())
			ev := s.log.Info()
			switch {
			case code == http.StatusServiceUnavailable && header.Get("Retry-After") != "":
				// Shed (shed.go): counted by argus_http_shed_total, and
				// a line each would add to the overload it answers.
				ev = s.log.Debug()
			case code >= 500:
				ev = s.log.Error()
			}
			// A token pasted where an id belongs must not reach the log.
			ev.Str("method", method).Str("route", route).Str("path", token.Redact(r.URL.Path)).
				Int("status", code).Dur("duration", elapsed).Str("remote", r.RemoteAddr)
			s.logActor(ctx, ev, who)
			ev.Msg("request")
		}
		if !refuseTransferEncoding(sw, r) { // smuggling.go
			s.serveAdmitted(mux, sw, r) // shed.go
		}
		if !sw.hijacked {
			sw.finish(sw.code)
		}
	})
}

// knownMethods are the methods a label or log line may name; any other
// becomes "other". A client chooses the method string, so taking it as
// is would let anyone, without a token, add label values (and /metrics
// size) without bound.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
	http.MethodConnect: true, http.MethodTrace: true,
}

func methodLabel(m string) string {
	if knownMethods[m] {
		return m
	}
	return "other"
}
