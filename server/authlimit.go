package server

import (
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
	addrs     map[string]*rate.Limiter // client address → its bucket
	overflow  *rate.Limiter            // shared by new addresses once addrs is full
	good      map[string]time.Time     // token hash → last successful check
	lastSweep time.Time
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
		every: rate.Limit(perSecond), burst: burst, off: burst < 0,
		addrs: make(map[string]*rate.Limiter), good: make(map[string]time.Time),
	}
	l.overflow = rate.NewLimiter(l.every, max(burst, 1))
	return l
}

// outcome is how an admitted attempt ended.
type outcome int

const (
	authGood   outcome = iota // the token is valid
	authFailed                // refused: counts against the address
	authUnsure                // the store failed: neither counted nor remembered
)

// admit decides whether an attempt from addr with a token of hash ("" for
// none or a malformed one) may go on to the lookup. If not, wait is how
// long until it may. If so, the caller must call settle with the outcome.
//
// An attempt that may fail holds one unit of the budget while it is
// checked (a reservation, released again on success), so a guesser's
// concurrent requests cannot all slip through before the first failure
// is counted.
func (l *authLimiter) admit(addr, hash string, now time.Time) (settle func(outcome), wait time.Duration, admitted bool) {
	if l.off {
		return func(outcome) {}, 0, true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.goodLocked(hash, now) {
		return func(o outcome) { l.settleGood(addr, hash, now, o) }, 0, true
	}
	r := l.limiterLocked(addr, now).ReserveN(now, 1)
	if !r.OK() {
		return nil, time.Hour, false
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return nil, d, false
	}
	return func(o outcome) {
		if o != authFailed {
			r.CancelAt(now) // a good token costs the address nothing
		}
		if o == authGood {
			l.succeeded(hash, now)
		}
	}, 0, true
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

// settleGood settles an attempt with a remembered good token: success
// keeps it remembered; failure (revoked since) forgets it and is counted.
func (l *authLimiter) settleGood(addr, hash string, now time.Time, o outcome) {
	switch o {
	case authGood:
		l.succeeded(hash, now)
		return
	case authUnsure:
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.good, hash)
	l.limiterLocked(addr, now).AllowN(now, 1)
}

// succeeded remembers hash as good.
func (l *authLimiter) succeeded(hash string, now time.Time) {
	if hash == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.good[hash]; !ok && len(l.good) >= maxGoodTokens {
		l.sweepGoodLocked(now)
	}
	l.good[hash] = now
}

// limiterLocked returns addr's bucket, made on first use. Once the map
// is full (after a sweep), an address not in it shares the overflow
// bucket.
func (l *authLimiter) limiterLocked(addr string, now time.Time) *rate.Limiter {
	if lim, ok := l.addrs[addr]; ok {
		return lim
	}
	if len(l.addrs) >= maxAuthAddrs && now.Sub(l.lastSweep) >= time.Second {
		l.sweepAddrsLocked(now)
	}
	if len(l.addrs) >= maxAuthAddrs {
		return l.overflow
	}
	lim := rate.NewLimiter(l.every, l.burst)
	l.addrs[addr] = lim
	return lim
}

// sweepAddrsLocked drops addresses whose bucket is full again: forgetting
// them changes nothing. It runs at most once a second, since it walks the
// whole map.
func (l *authLimiter) sweepAddrsLocked(now time.Time) {
	l.lastSweep = now
	for addr, lim := range l.addrs {
		if lim.TokensAt(now) >= float64(l.burst) {
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
