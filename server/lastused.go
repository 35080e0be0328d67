package server

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/argus-exec/argus/server/store"
)

// lastUsed keeps tokens' last-used times (argus-server token list) without
// a write per request: a use is only remembered, and every flush interval
// the remembered ones go to the store in one transaction (as heartbeats
// do, beats.go). A token is remembered again only once this replica's
// last write of it is a minute old, so the stored time is right to about
// a minute plus a flush interval, and a flush lost to a crash costs at
// most that much precision.
type lastUsed struct {
	store store.Store
	log   zerolog.Logger
	// quiet, when set, takes a flush's error and says it was logged
	// already (an unwritable database: storehealth.go).
	quiet func(error) bool

	mu      sync.Mutex
	written map[string]time.Time // token id → the use this replica last wrote
	pending map[string]time.Time // token id → newest use not yet written
}

const (
	// lastUsedPrecision: a token used within this of its last written use
	// is not written again.
	lastUsedPrecision = time.Minute
	// lastUsedFlush is how often remembered uses are written.
	lastUsedFlush = 5 * time.Second
	// maxLastUsed bounds written: past it, it is cleared, which costs at
	// most one extra write per token.
	maxLastUsed = 100000
)

func newLastUsed(st store.Store, log zerolog.Logger) *lastUsed {
	return &lastUsed{store: st, log: log, written: map[string]time.Time{}, pending: map[string]time.Time{}}
}

// touchToken notes that the token with id authenticated a request at at.
func (s *Server) touchToken(id string, at time.Time) { s.lastUsed.touch(id, at) }

func (l *lastUsed) touch(id string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if last, ok := l.written[id]; ok && at.Sub(last) < lastUsedPrecision {
		return
	}
	l.pending[id] = at
}

// flush writes every remembered use in one transaction; on failure they
// are kept for the next flush unless a newer use came meanwhile.
func (l *lastUsed) flush(ctx context.Context) error {
	l.mu.Lock()
	batch := l.pending
	l.pending = make(map[string]time.Time, len(batch))
	l.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := l.store.TouchTokens(ctx, batch)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && len(l.written)+len(batch) > maxLastUsed {
		clear(l.written)
	}
	for id, at := range batch {
		if err == nil {
			l.written[id] = at
		} else if _, newer := l.pending[id]; !newer {
			l.pending[id] = at
		}
	}
	return err
}

// run flushes every interval until ctx ends, then once more.
func (l *lastUsed) run(ctx context.Context, every time.Duration) {
	writeBehind{what: "token last-used", flush: l.flush, quiet: l.quiet, log: l.log}.run(ctx, every)
}
