package agent

import (
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// link is what the daemon's loops know together about reaching the
// server. Each loop backs off on its own failures, but the server's
// return is one event for all of them: the first answer after an outage
// (any loop's, seen through the client's Observe) ends every loop's wait
// at once, and while the server is unreachable the heartbeat loop probes
// it every reconnectProbe, so work resumes within about a second of its
// return rather than at each loop's next backoff step (up to
// --max-backoff, 30 s by default).
type link struct {
	log zerolog.Logger

	mu       sync.Mutex
	down     bool
	back     chan struct{} // closed at the next answer after an outage
	wentDown chan struct{} // one token per outage: the heartbeat loop starts probing
}

// reconnectProbe is the mean interval of the heartbeat loop's probes
// while the server is unreachable: one small request a second per agent,
// which a server that is down does not see and one that came back
// answers.
const reconnectProbe = time.Second

func newLink(log zerolog.Logger) *link {
	return &link{log: log, back: make(chan struct{}), wentDown: make(chan struct{}, 1)}
}

// observe is the client's Observe: an answer from the server ends an
// outage; no answer, or a proxy's saying the server behind it is gone
// (502, 504, or a 503 without Retry-After), begins one. A 503 with
// Retry-After is the server itself, overloaded: it is there, and callers
// honour its Retry-After.
func (l *link) observe(resp *http.Response) {
	if resp == nil || resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusGatewayTimeout ||
		(resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "") {
		l.setDown()
		return
	}
	l.setUp()
}

func (l *link) setDown() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return
	}
	l.down = true
	select {
	case l.wentDown <- struct{}{}:
	default:
	}
}

func (l *link) setUp() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.down {
		return
	}
	l.down = false
	close(l.back)
	l.back = make(chan struct{})
	l.log.Info().Msg("server reachable again; every loop resumes now")
}

// isDown says whether the last call got no answer.
func (l *link) isDown() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.down
}

// serverBack is closed at the first answer after the current or next
// outage. A loop takes it before its call, so an outage that begins and
// ends around that call still wakes it.
func (l *link) serverBack() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.back
}

// probeEvery is the next probe's wait: reconnectProbe jittered by half
// either way, so a fleet that lost its server does not return in
// lockstep.
func probeEvery() time.Duration {
	return reconnectProbe/2 + rand.N(reconnectProbe+1)
}
