package server

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// authLimiter budgets failed authentications per client address (issue 8,
// item 11): every failed bearer check or web sign-in, and every attempt
// whose client hangs up during the lookup, takes one token from the
// address's bucket (burst, refilled at rate per second; with very many
// addresses failing, the bucket of the address's network, see
// bucketLocked). While the bucket is empty, further attempts from the
// address are answered 429 before any token lookup, so a guesser costs
// the store nothing.
//
// A good token must not be refused because its address is under attack
// (an office behind one NAT, a host running an agent and a broken
// script). Refusing everything from an empty bucket would do just that,
// and looking every token up before deciding would let the guesser reach
// the store. So a token that authenticated within goodFor (its hash is in
// good) is still looked up, and answered normally, whatever the bucket says. The
// price: a token never seen by this process (its first use since a
// restart) from an address over budget waits like a guess, with
// Retry-After; clients retry 429 on their own.
type authLimiter struct {
	every rate.Limit // refill, tokens per second
	burst int
	off   bool // limiting disabled (Config.AuthFailBurst < 0)

	mu sync.Mutex
	// The budgets (authlimit_bucket.go): one per client address, and
	// once addrs is full, one per network, and once nets is full too,
	// one shared by the rest.
	addrs     map[string]*bucket
	nets      map[string]*bucket
	overflow  *bucket
	lastSweep time.Time
	good      map[string]time.Time // token hash → last successful check
}

const (
	// maxGoodTokens caps the remembered good token hashes; goodFor is how
	// long one keeps its pass after its last successful use (admit ignores
	// and drops older entries; the sweep drops them when the map is full).
	maxGoodTokens = 10000
	goodFor       = 24 * time.Hour
)

func newAuthLimiter(perSecond float64, burst int) *authLimiter {
	l := &authLimiter{
		// Config makes burst 0 the default 20; at least 1, or no failure
		// could be counted at all.
		every: rate.Limit(perSecond), burst: max(burst, 1), off: burst < 0,
		addrs: make(map[string]*bucket), nets: make(map[string]*bucket),
		good: make(map[string]time.Time),
	}
	l.overflow = l.newBucket()
	return l
}

// outcome is how an admitted attempt ended.
type outcome int

const (
	authGood   outcome = iota // the token is valid
	authFailed                // refused: counts against the address
	authUnsure                // the store failed: neither counted nor remembered
	// authAbandoned: the client hung up during the lookup. Counted like a
	// failure, or a guesser cancelling every request would get lookups
	// for free; but not for a remembered good token, whose holder is no
	// guesser (and whose client may well time out while the store is slow).
	authAbandoned
)

// lookupFailed is how an attempt whose lookup returned an error (not
// "unknown") is settled: abandoned if the request's own context was
// cancelled (the client went away; the error may be the driver's rather
// than context.Canceled), otherwise unsure. The server sets no request
// deadlines, so an expired context says nothing about the client.
func lookupFailed(ctx context.Context) outcome {
	if errors.Is(ctx.Err(), context.Canceled) {
		return authAbandoned
	}
	return authUnsure
}

// admit decides whether an attempt from addr with a token of hash ("" for
// none or a malformed one) may go on to the lookup. If not, wait is how
// long until it may. If so, the caller must call settle with the outcome
// and the time the lookup ended.
//
// An attempt that may fail holds one unit of the budget while it is
// checked (released again on success), so a guesser's concurrent requests
// cannot all slip through before the first failure is counted.
func (l *authLimiter) admit(addr, hash string, now time.Time) (settle func(o outcome, now time.Time), wait time.Duration, admitted bool) {
	if l.off {
		return func(outcome, time.Time) {}, 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.goodLocked(hash, now) {
		return func(o outcome, at time.Time) { l.settleGood(addr, hash, o, at) }, 0, true
	}
	b := l.bucketLocked(addr, now)
	if wait, ok := b.hold(now); !ok {
		return nil, wait, false
	}
	return func(o outcome, at time.Time) { l.settleHeld(b, hash, o, at) }, 0, true
}

// goodLocked reports whether hash authenticated within goodFor. An older
// entry is dropped: the README promises the pass for a token used within
// the last day, and a token unused longer (lost, leaked and abandoned)
// should not keep a way past its address's budget until the map fills.
func (l *authLimiter) goodLocked(hash string, now time.Time) bool {
	at, ok := l.good[hash]
	if !ok || hash == "" {
		return false
	}
	if now.Sub(at) > goodFor {
		delete(l.good, hash)
		return false
	}
	return true
}

// settleHeld settles an attempt that held a unit of b: a failure keeps
// it, anything else gives it back (a good token costs the address nothing).
func (l *authLimiter) settleHeld(b *bucket, hash string, o outcome, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b.pending--
	switch o {
	case authFailed, authAbandoned:
		b.count(now)
	case authGood:
		l.rememberLocked(hash, now)
	}
}

// settleGood settles an attempt with a remembered good token: success
// keeps it remembered; failure (revoked since) forgets it and is counted;
// a hang-up or a store failure changes nothing.
func (l *authLimiter) settleGood(addr, hash string, o outcome, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch o {
	case authGood:
		l.rememberLocked(hash, now)
	case authFailed:
		delete(l.good, hash)
		l.bucketLocked(addr, now).count(now)
	}
}

// succeeded remembers hash as good.
func (l *authLimiter) succeeded(hash string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rememberLocked(hash, now)
}

func (l *authLimiter) rememberLocked(hash string, now time.Time) {
	if hash == "" {
		return
	}
	if _, ok := l.good[hash]; !ok && len(l.good) >= maxGoodTokens {
		l.sweepGoodLocked(now)
	}
	l.good[hash] = now
}

// sweepGoodLocked drops hashes not used within goodFor; if none is that
// old, one arbitrary entry goes, so the map never grows past its cap.
func (l *authLimiter) sweepGoodLocked(now time.Time) {
	for h, at := range l.good {
		if now.Sub(at) > goodFor {
			delete(l.good, h)
		}
	}
	for h := range l.good {
		if len(l.good) < maxGoodTokens {
			break
		}
		delete(l.good, h)
	}
}

// retryAfterSeconds is a Retry-After value: whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// clientAddr is the address a request's failures are counted against:
// the peer's IP, IPv6 by its /64 (one host usually holds a whole /64, so
// counting single addresses would give it billions of budgets). Behind a
// trusted proxy (Config.TrustedProxies) it is the right-most
// X-Forwarded-For entry that is not itself a trusted proxy; the header is
// ignored from anyone else, since a client can write anything there.
func (s *Server) clientAddr(r *http.Request) string {
	ip := peerIP(r.RemoteAddr)
	if ip.IsValid() && s.trusted(ip) {
		ip = s.forwardedFor(r, ip)
	}
	return addrKey(ip)
}

func (s *Server) trusted(ip netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// forwardedFor walks X-Forwarded-For from the right (the entries the
// trusted proxies appended) to the first address not trusted.
func (s *Server) forwardedFor(r *http.Request, peer netip.Addr) netip.Addr {
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	ip := peer
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return ip // garbage: stop at the last hop we could read
		}
		ip = hop.Unmap()
		if !s.trusted(ip) {
			return ip
		}
	}
	return ip
}

func peerIP(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap().WithZone("")
}

func addrKey(ip netip.Addr) string {
	if !ip.IsValid() {
		return "unknown"
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
