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
// item 11): every failed bearer check or web sign-in takes one token from
// the address's bucket (burst, refilled at rate per second). While the
// bucket is empty, further attempts from the address are answered 429
// before any token lookup, so a guesser costs the store nothing.
//
// A good token must not be refused because its address is under attack
// (an office behind one NAT, a host running an agent and a broken
// script). Refusing everything from an empty bucket would do just that,
// and looking every token up before deciding would let the guesser reach
// the store. So a token that authenticated recently (its hash is in good)
// is still looked up, and answered normally, whatever the bucket says. The
// price: a token never seen by this process (its first use since a
// restart) from an address over budget waits like a guess, with
// Retry-After; clients retry 429 on their own.
type authLimiter struct {
	every rate.Limit // refill, tokens per second
	burst int
	off   bool // limiting disabled (Config.AuthFailBurst < 0)

	mu        sync.Mutex
	addrs     map[string]*bucket   // client address → its budget
	overflow  *bucket              // shared by new addresses once addrs is full
	good      map[string]time.Time // token hash → last successful check
	lastSweep time.Time
}

// bucket is one budget: lim counts the failures, pending the attempts
// admitted and still being checked, each holding one unit.
//
// Units are held by counting rather than with a rate.Reservation: an
// attempt is settled after its lookup, and Reservation.CancelAt restores
// nothing at a time after the reservation's, while cancelling at the
// earlier time winds the limiter's clock back and credits the refill
// since then twice. For the same reason last keeps the times given to lim
// in order: requests read the clock before they queue for the mutex.
type bucket struct {
	lim     *rate.Limiter
	pending int
	last    time.Time
}

func (l *authLimiter) newBucket() *bucket {
	return &bucket{lim: rate.NewLimiter(l.every, l.burst)}
}

// clock returns now, or the latest time lim has seen if that is later.
func (b *bucket) clock(now time.Time) time.Time {
	if now.Before(b.last) {
		return b.last
	}
	b.last = now
	return now
}

// hold takes one unit for an attempt about to be checked; if none is
// free, wait is how long until one is.
func (b *bucket) hold(now time.Time) (wait time.Duration, ok bool) {
	free := b.lim.TokensAt(b.clock(now)) - float64(b.pending)
	if free >= 1 {
		b.pending++
		return 0, true
	}
	if b.lim.Limit() <= 0 {
		return time.Hour, false
	}
	return time.Duration(math.Ceil((1 - free) / float64(b.lim.Limit()) * float64(time.Second))), false
}

// count takes one unit for a failure. ReserveN because it always takes
// (AllowN takes nothing from an empty bucket): a failure from a remembered
// token, which held nothing, may put the bucket in debt, which then
// refills before the next attempt.
func (b *bucket) count(now time.Time) {
	b.lim.ReserveN(b.clock(now), 1)
}

// idle reports whether forgetting b changes nothing: full, none held.
func (b *bucket) idle(now time.Time, burst int) bool {
	return b.pending == 0 && b.lim.TokensAt(b.clock(now)) >= float64(burst)
}

const (
	// maxAuthAddrs caps the addresses tracked. Entries whose bucket has
	// refilled are worth nothing and are swept; if the map is still full
	// (an attacker spread over very many addresses), new addresses share
	// one overflow bucket instead of growing memory.
	maxAuthAddrs = 10000
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
		addrs: make(map[string]*bucket), good: make(map[string]time.Time),
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

// bucketLocked returns addr's bucket, made on first use. Once the map
// is full (after a sweep), an address not in it shares the overflow
// bucket.
func (l *authLimiter) bucketLocked(addr string, now time.Time) *bucket {
	if b, ok := l.addrs[addr]; ok {
		return b
	}
	if len(l.addrs) >= maxAuthAddrs && now.Sub(l.lastSweep) >= time.Second {
		l.sweepAddrsLocked(now)
	}
	if len(l.addrs) >= maxAuthAddrs {
		return l.overflow
	}
	b := l.newBucket()
	l.addrs[addr] = b
	return b
}

// sweepAddrsLocked drops addresses whose bucket is full again, with no
// attempt in flight: forgetting them changes nothing. It runs at most once
// a second, since it walks the whole map.
func (l *authLimiter) sweepAddrsLocked(now time.Time) {
	l.lastSweep = now
	for addr, b := range l.addrs {
		if b.idle(now, l.burst) {
			delete(l.addrs, addr)
		}
	}
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
