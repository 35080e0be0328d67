package server

import (
	"math"
	"net/netip"
	"time"

	"golang.org/x/time/rate"
)

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
	// maxAuthAddrs caps the client addresses given a budget each, and
	// maxAuthNets the networks whose addresses share one once addrs is
	// full. Buckets that have refilled are worth nothing and are swept;
	// past both caps, the rest share the overflow bucket instead of
	// growing memory.
	maxAuthAddrs = 10000
	maxAuthNets  = 10000
)

// bucketLocked returns the bucket addr's failures are counted in: its
// own, made on first use while addrs has room (after a sweep).
//
// Once addrs is full, a new address is counted with its network (netKey).
// A single shared bucket there would let whoever keeps the table full
// (one IPv6 /48 holds 65,536 /64s, each an address here) also keep that
// bucket empty, and so refuse every token this process has not yet seen
// working (all of them, after a restart) from everywhere else. With a
// bucket per network the attacker spends only its own networks' budgets.
//
// Once nets is full too, the rest share the overflow bucket, rather than
// evicting the network that failed least recently. Eviction would hand
// that network a full budget on its next attempt: an attacker cycling
// through more networks than the cap would find each one fresh every
// time round, so the limit would stop limiting under exactly the attack
// that got this far. Sharing fails closed instead, and only for tokens
// not yet remembered good (those are served whatever any bucket says),
// and it takes some 10,000 networks failing at once, a spread no budget
// by address can tell from the users anyway.
func (l *authLimiter) bucketLocked(addr string, now time.Time) *bucket {
	if b, ok := l.bucketIn(l.addrs, addr, maxAuthAddrs, now); ok {
		return b
	}
	if b, ok := l.bucketIn(l.nets, netKey(addr), maxAuthNets, now); ok {
		return b
	}
	return l.overflow
}

// bucketIn finds key's bucket in table, or makes one while the table
// (swept first when full) has room; ok is false when it has none.
func (l *authLimiter) bucketIn(table map[string]*bucket, key string, max int, now time.Time) (*bucket, bool) {
	if b, ok := table[key]; ok {
		return b, true
	}
	if len(table) >= max {
		l.sweepLocked(now)
	}
	if len(table) >= max {
		return nil, false
	}
	b := l.newBucket()
	table[key] = b
	return b, true
}

// sweepLocked drops the address and network buckets that are full again
// with no attempt in flight: forgetting them changes nothing. It runs at
// most once a second, since it walks both maps.
func (l *authLimiter) sweepLocked(now time.Time) {
	if now.Sub(l.lastSweep) < time.Second {
		return
	}
	l.lastSweep = now
	for _, m := range []map[string]*bucket{l.addrs, l.nets} {
		for k, b := range m {
			if b.idle(now, l.burst) {
				delete(m, k)
			}
		}
	}
}

// netKey is the network an address (an addrKey) is counted with once
// addrs is full: its /24 for IPv4, the smallest block routed on the
// internet, or its /48 for IPv6, a site's usual allocation; either way
// what one party's addresses usually share. A key that is no address
// ("unknown") is its own network.
func netKey(addr string) string {
	var ip netip.Addr
	if p, err := netip.ParsePrefix(addr); err == nil {
		ip = p.Addr()
	} else if ip, err = netip.ParseAddr(addr); err != nil {
		return addr
	}
	bits := 24
	if ip.Is6() {
		bits = 48
	}
	p, _ := ip.Prefix(bits)
	return p.String()
}
