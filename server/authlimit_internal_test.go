package server

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// An attacker with very many addresses cannot grow the limiter without
// bound: past maxAuthAddrs, new addresses are counted by network; past
// maxAuthNets networks, the rest share one overflow bucket; and buckets
// that have refilled are swept.
func TestAuthLimiterBounded(t *testing.T) {
	l := newAuthLimiter(1, 2)
	now := time.Unix(1_700_000_000, 0)
	fail := func(addr string, at time.Time) bool {
		settle, _, ok := l.admit(addr, "", at)
		if ok {
			settle(authFailed, at)
		}
		return ok
	}
	// net is an address in the i-th /24 of 10.0.0.0/8.
	net := func(i, host int) string { return fmt.Sprintf("10.%d.%d.%d", i>>8, i&255, host) }
	for i := range maxAuthAddrs {
		fail(net(i, 1), now)
	}
	// The next addresses fill the networks, a second address of each
	// sharing the first one's bucket.
	for i := range maxAuthNets {
		fail(net(i, 2), now)
		fail(net(i, 3), now)
	}
	if len(l.addrs) != maxAuthAddrs || len(l.nets) != maxAuthNets {
		t.Fatalf("%d addresses and %d networks tracked, want the caps %d and %d", len(l.addrs), len(l.nets), maxAuthAddrs, maxAuthNets)
	}
	if fail(net(0, 4), now) {
		t.Fatal("a network's addresses did not share its bucket")
	}
	// Past both caps, new networks share the overflow bucket (burst 2).
	if !fail(net(maxAuthNets, 1), now) || !fail(net(maxAuthNets+1, 1), now) {
		t.Fatal("the overflow bucket was spent before its burst")
	}
	if fail(net(maxAuthNets+2, 1), now) {
		t.Fatal("a new network past the caps was not counted in the spent overflow bucket")
	}
	if len(l.addrs) != maxAuthAddrs || len(l.nets) != maxAuthNets {
		t.Fatal("an address or network was tracked past the caps")
	}
	// Two seconds later every bucket is full again; the next new address
	// sweeps them all.
	if !fail("192.0.2.1", now.Add(2*time.Second)) || len(l.addrs) != 1 || len(l.nets) != 0 {
		t.Fatalf("%d addresses, %d networks after the sweep, want 1 (the new one) and none", len(l.addrs), len(l.nets))
	}

	for i := range maxGoodTokens + 10 {
		l.succeeded(fmt.Sprintf("h%d", i), now)
	}
	if len(l.good) > maxGoodTokens {
		t.Fatalf("%d good hashes kept, want at most %d", len(l.good), maxGoodTokens)
	}
}

// Concurrent guesses hold their unit of budget while they are checked:
// with a burst of 3, only 3 of many simultaneous attempts are admitted.
func TestAuthLimiterConcurrentAttempts(t *testing.T) {
	l := newAuthLimiter(1, 3)
	now := time.Unix(1_700_000_000, 0)
	var settles []func(outcome, time.Time)
	for range 10 {
		if settle, _, ok := l.admit("a", "", now); ok {
			settles = append(settles, settle)
		}
	}
	if len(settles) != 3 {
		t.Fatalf("%d attempts admitted at once, want 3", len(settles))
	}
	// A good token gives its unit back when its lookup ends, later than
	// it was admitted (a rate.Reservation cancelled then restores nothing).
	later := now.Add(time.Millisecond)
	settles[0](authGood, later)
	if _, _, ok := l.admit("a", "", later); !ok {
		t.Fatal("the unit a good token released was not given back")
	}
	// The store failing gives it back too; failures keep theirs.
	settles[1](authUnsure, later)
	settles[2](authFailed, later)
	if _, _, ok := l.admit("a", "", later); !ok {
		t.Fatal("the unit of an attempt the store failed was not given back")
	}
	if _, _, ok := l.admit("a", "", later); ok {
		t.Fatal("a failure's unit was given back")
	}
}

func TestClientAddr(t *testing.T) {
	for remote, want := range map[string]string{
		"192.0.2.7:5555":                 "192.0.2.7",
		"[::ffff:192.0.2.7]:5555":        "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443":     "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1%eth0]:80": "2001:db8:1:2::/64",
		"garbage":                        "unknown",
	} {
		if got := addrKey(peerIP(remote)); got != want {
			t.Errorf("addrKey(peerIP(%q)) = %q, want %q", remote, got, want)
		}
	}
}

// A remembered good token passes an empty bucket only while its last
// success is at most goodFor old; past that it waits like any token this
// process has not seen, and is forgotten.
func TestAuthLimiterGoodTokenAges(t *testing.T) {
	l := newAuthLimiter(1, 1)
	t0 := time.Unix(1_700_000_000, 0)
	l.succeeded("h", t0)
	spend := func(at time.Time) {
		t.Helper()
		settle, _, ok := l.admit("a", "", at)
		if !ok {
			t.Fatal("the first failure was refused")
		}
		settle(authFailed, at)
	}

	at := t0.Add(goodFor) // exactly a day: still good
	spend(at)
	settle, _, ok := l.admit("a", "h", at)
	if !ok {
		t.Fatal("a token good a day ago was refused with its address")
	}
	settle(authGood, at) // remembered again from at

	later := at.Add(goodFor + time.Second)
	spend(later)
	if _, _, ok := l.admit("a", "h", later); ok {
		t.Fatal("a token last good more than a day ago passed an empty bucket")
	}
	if _, kept := l.good["h"]; kept {
		t.Fatal("a token last good more than a day ago is still remembered")
	}
}

// Requests read the clock before they queue for the limiter, so times can
// reach it out of order. An earlier time must not wind a bucket's clock
// back: the refill between the two would be credited twice.
func TestAuthLimiterTimeOutOfOrder(t *testing.T) {
	l := newAuthLimiter(1, 2)
	t0 := time.Unix(1_700_000_000, 0)
	fail := func(at time.Time) bool {
		settle, _, ok := l.admit("a", "", at)
		if ok {
			settle(authFailed, at)
		}
		return ok
	}
	// Burst 2 and one second of refill: three failures by t0+1s, the
	// third read t0 but admitted last.
	for i, at := range []time.Time{t0, t0.Add(time.Second), t0} {
		if !fail(at) {
			t.Fatalf("failure %d was refused", i+1)
		}
	}
	if fail(t0.Add(time.Second)) {
		t.Fatal("a fourth failure by t0+1s was admitted: the refill was counted twice")
	}
}

// An attacker who fills the address table from one IPv6 /48 (65,536
// /64s, each its own address here) cannot starve addresses elsewhere:
// past the cap, a new address is counted with its network, and the
// attacker's network is nobody else's.
func TestAuthLimiterFullTableByNetwork(t *testing.T) {
	const burst = 20
	l := newAuthLimiter(1, burst)
	now := time.Unix(1_700_000_000, 0)
	fail := func(addr string) bool {
		settle, _, ok := l.admit(addr, "", now)
		if ok {
			settle(authFailed, now)
		}
		return ok
	}
	attacker := func(i int) string {
		return addrKey(netip.MustParseAddr(fmt.Sprintf("2001:db8:aaaa:%x::1", i)))
	}
	for i := range maxAuthAddrs {
		fail(attacker(i)) // all at one instant: none refills, none is swept
	}
	for i := range burst {
		if !fail(attacker(maxAuthAddrs + i)) {
			t.Fatalf("the attacker's /64 number %d past the cap was refused before its /48's budget was spent", i+1)
		}
	}
	if fail(attacker(maxAuthAddrs + burst)) {
		t.Fatal("the attacker's /48 was not limited once the table was full")
	}

	// Another network has a budget of its own, and a limited one.
	other := addrKey(netip.MustParseAddr("2001:db8:bbbb:1::1"))
	for i := range burst {
		if !fail(other) {
			t.Fatalf("failure %d from another network was refused: it shares the attacker's budget", i+1)
		}
	}
	if fail(other) {
		t.Fatal("another network's budget was not limited")
	}
	// A valid token this process has not seen, from a third network, is
	// looked up and remembered.
	settle, _, ok := l.admit(addrKey(netip.MustParseAddr("198.51.100.7")), "h", now)
	if !ok {
		t.Fatal("a token not yet remembered was refused from a network the attacker does not use")
	}
	settle(authGood, now)
	if !l.goodLocked("h", now) {
		t.Fatal("the token that authenticated was not remembered")
	}
}

func TestNetKey(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7":         "192.0.2.0/24",
		"2001:db8:1:2::/64": "2001:db8:1::/48",
		"unknown":           "unknown",
	} {
		if got := netKey(addr); got != want {
			t.Errorf("netKey(%q) = %q, want %q", addr, got, want)
		}
	}
}
