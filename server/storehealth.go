package server

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/token"
)

// storeHealth is what the server knows of whether its database can be
// written. A full disk, a read-only database or one out of resources makes
// writes fail while reads still work: those failures answer 503 with a
// message that says so (not "internal error"), count in
// argus_store_write_failures_total, and make /healthz answer 503 until
// the database has been written again: a write probe, at most one per
// healthProbeEvery, and no failed write for healthFailWindow.
type storeHealth struct {
	st       store.Store
	log      zerolog.Logger
	failures prometheus.Counter

	mu       sync.Mutex
	failedAt time.Time // the latest unwritable failure
	loggedAt time.Time // the latest one logged
	probedAt time.Time
	probeErr error
}

const (
	// healthProbeEvery bounds /healthz's write probes: callers in between
	// get the last probe's answer.
	healthProbeEvery = time.Second
	// healthFailWindow is how long after a failed write /healthz goes on
	// saying the database cannot be written: a probe rewrites one row in
	// place, which a full disk may still allow while inserts fail.
	healthFailWindow = 10 * time.Second
	// unwritableLogEvery bounds the log lines of failing writes: with
	// the disk full, every request fails, and the log may be on that disk.
	unwritableLogEvery = 10 * time.Second
	// unwritableRetry is the Retry-After of a write refused for that.
	unwritableRetry = "10"
)

// unwritableMsg is what a client is told when a write failed for that.
const unwritableMsg = "the server's database cannot be written now (disk full, read-only or out of resources); retry later — an operator must free space or make it writable"

func newStoreHealth(st store.Store, log zerolog.Logger, reg prometheus.Registerer) *storeHealth {
	h := &storeHealth{st: st, log: log, failures: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "argus_store_write_failures_total",
		Help: "Store operations that failed because the database could not be written (disk full, read-only, out of resources).",
	})}
	reg.MustRegister(h.failures)
	return h
}

// failed notes err when it says the database cannot be written, and
// reports whether it did.
func (h *storeHealth) failed(err error) bool {
	if !h.st.Unwritable(err) {
		return false
	}
	h.failures.Inc()
	now := time.Now()
	h.mu.Lock()
	h.failedAt = now
	logIt := now.Sub(h.loggedAt) >= unwritableLogEvery
	if logIt {
		h.loggedAt = now
	}
	h.mu.Unlock()
	if logIt {
		h.log.Error().Str("error", token.Redact(err.Error())).
			Msg("the database cannot be written; writes answer 503 until it can (logged at most every 10s)")
	}
	return true
}

// check is /healthz's question: nil when the database was written lately
// (a probe, at most one per healthProbeEvery) and no write failed within
// healthFailWindow.
func (h *storeHealth) check(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock() // one probe at a time; the others wait for its answer
	if time.Since(h.probedAt) >= healthProbeEvery {
		h.probeErr = h.st.ProbeWrite(ctx)
		h.probedAt = time.Now()
		if h.st.Unwritable(h.probeErr) {
			h.failedAt = h.probedAt
			h.failures.Inc()
		}
	}
	switch {
	case h.probeErr != nil && !h.st.Unwritable(h.probeErr):
		return errorf(http.StatusServiceUnavailable, "store unavailable")
	case time.Since(h.failedAt) < healthFailWindow:
		return errorf(http.StatusServiceUnavailable, "store unwritable: the database cannot be written (disk full, read-only or out of resources)")
	}
	return nil
}
