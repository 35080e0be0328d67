package server

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/argus-exec/argus/internal/atomicfile"
	"github.com/argus-exec/argus/internal/ctxsleep"
	"github.com/argus-exec/argus/server/store"
)

// Tokens the store has verified are kept in memory, so a request's token
// is checked without a store round trip (at fleet scale, most requests
// waited for a database connection there). A revocation must still take
// effect on the very next request, so the cache is used only while this
// server hears of every revocation, and forgets everything at each one:
//
//   - in this process (an agent's --reregister): at once, and announced
//     under revokedKey to the other replicas;
//   - on other PostgreSQL replicas and from `argus-server token revoke`:
//     through the Waker (LISTEN/NOTIFY). While the listener is down the
//     cache is not used; if it died silently, entries still expire after
//     TokenCacheTTL, the bound on staleness;
//   - from `argus-server token revoke` on SQLite, another process with no
//     channel to this one: it replaces a marker file beside the database
//     (RevocationMarker), which every cache hit checks (one stat).
//
// Only tokens found unrevoked are kept; an unknown token always goes to
// the store (the failed-authentication budget bounds those).

// tokenCacheMax bounds the cache: about 200 bytes a token, so 100,000
// agents' and users' tokens in ~20 MB; past it the cache starts afresh.
const tokenCacheMax = 100_000

// revokedKey is the Waker key revocations are announced under.
const revokedKey = RevokedKey

// RevokedKey is the Waker key a revocation by another process is announced
// under (`argus-server token revoke` on PostgreSQL).
const RevokedKey = "auth:revoked"

// RevocationMarker is the file whose replacement tells servers on the
// SQLite database db that a token was revoked by another process.
func RevocationMarker(db string) string { return db + "-revoked" }

// MarkRevoked replaces the marker file of the SQLite database db: what
// `argus-server token revoke` does after revoking, so that servers on db
// forget the tokens they verified.
func MarkRevoked(db string) error {
	stamp := time.Now().UTC().Format(time.RFC3339Nano) + "\n"
	return atomicfile.WriteFile(RevocationMarker(db), []byte(stamp), true)
}

type tokenCache struct {
	ttl    time.Duration
	max    int
	marker string // "" when revocations elsewhere come through the Waker

	mu      sync.Mutex
	live    bool // revocations are being heard: the cache may be used
	gen     uint64
	seen    os.FileInfo // the marker as last seen (nil: absent)
	entries map[string]cachedToken
}

type cachedToken struct {
	t  store.Token
	at time.Time
}

func newTokenCache(ttl time.Duration, max int, marker string) *tokenCache {
	c := &tokenCache{ttl: ttl, max: max, marker: marker, entries: map[string]cachedToken{}}
	c.seen = c.statMarker()
	return c
}

// get returns the verified token with this hash, if the cache may answer:
// heard says revocations elsewhere reach this server right now.
func (c *tokenCache) get(hash string, now time.Time, heard bool) (store.Token, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !heard {
		c.flushLocked()
		return store.Token{}, false
	}
	if !c.live || c.ttl <= 0 || c.markerMoved() {
		return store.Token{}, false
	}
	e, ok := c.entries[hash]
	if !ok || now.Sub(e.at) > c.ttl {
		return store.Token{}, false
	}
	return e.t, true
}

// generation is taken before a store lookup; put keeps the result only if
// no revocation came in between.
func (c *tokenCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *tokenCache) put(hash string, t store.Token, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || gen != c.gen || t.RevokedAt != nil {
		return
	}
	if len(c.entries) >= c.max {
		clear(c.entries) // rare, and the cheapest fair eviction
	}
	c.entries[hash] = cachedToken{t: t, at: now}
}

// flush forgets every token: a revocation happened somewhere.
func (c *tokenCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushLocked()
}

func (c *tokenCache) flushLocked() {
	c.gen++
	clear(c.entries)
}

// setLive turns the cache on while revocations are heard, off (and empty)
// while they may not be.
func (c *tokenCache) setLive(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live = live
	c.flushLocked()
}

// markerMoved reports (and takes in) a replaced marker file.
func (c *tokenCache) markerMoved() bool {
	if c.marker == "" {
		return false
	}
	now := c.statMarker()
	same := (now == nil && c.seen == nil) || (now != nil && c.seen != nil && os.SameFile(now, c.seen) && now.ModTime().Equal(c.seen.ModTime()))
	if same {
		return false
	}
	c.seen = now
	c.flushLocked()
	return true
}

func (c *tokenCache) statMarker() os.FileInfo {
	if c.marker == "" {
		return nil
	}
	st, err := os.Stat(c.marker)
	if err != nil {
		return nil
	}
	return st
}

// watchRevocations keeps the cache live while a subscription to
// revocations holds, flushing it at each one, until ctx ends. One
// subscription serves for as long as it lasts: a Waker that loses its
// listener says so (Listening), and wakes its subscribers when it is back,
// which flushes what may have been missed meanwhile.
func (s *Server) watchRevocations(ctx context.Context) {
	defer s.tokens.setLive(false)
	for ctx.Err() == nil {
		woken, cancel, err := s.waker.Subscribe(ctx, revokedKey)
		if err != nil {
			s.tokens.setLive(false)
			if !ctxsleep.Sleep(ctx, time.Second) {
				return
			}
			continue
		}
		s.tokens.setLive(true)
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-woken:
				s.tokens.flush()
			}
		}
		cancel()
	}
}

// listening is a Waker that can tell whether it hears Notify calls from
// elsewhere now (pgwake.Waker: its listener is connected).
type listening interface{ Listening() bool }

// revocationsHeard: announcements from other processes arrive now.
func (s *Server) revocationsHeard() bool {
	if l, ok := s.waker.(listening); ok {
		return l.Listening()
	}
	return true
}

// announceRevocation tells this server and the others that a token was
// revoked here.
func (s *Server) announceRevocation(ctx context.Context) {
	s.tokens.flush()
	if err := s.waker.Notify(ctx, revokedKey); err != nil {
		s.log.Error().Err(err).Msg("could not announce a token revocation to other replicas; they trust their caches for up to the token cache TTL")
	}
}
