package server

import (
	"fmt"
	"testing"
	"time"
)

// An attacker with very many addresses cannot grow the limiter without
// bound: past maxAuthAddrs, new addresses share one overflow bucket, and
// addresses whose bucket has refilled are swept.
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
	for i := range maxAuthAddrs + 2 {
		fail(fmt.Sprintf("a%d", i), now)
	}
	if len(l.addrs) != maxAuthAddrs {
		t.Fatalf("%d addresses tracked, want the cap %d", len(l.addrs), maxAuthAddrs)
	}
	// The two that did not fit spent the shared overflow bucket (burst 2),
	// so one more new address is refused, and not tracked.
	if fail("new", now) {
		t.Fatal("a new address past the cap was not counted in the spent overflow bucket")
	}
	if _, ok := l.addrs["new"]; ok || len(l.addrs) != maxAuthAddrs {
		t.Fatal("a new address was tracked past the cap")
	}
	// Two seconds later every bucket is full again; the next new address
	// sweeps them all.
	if !fail("newer", now.Add(2*time.Second)) || len(l.addrs) != 1 {
		t.Fatalf("%d addresses after the sweep, want 1 (newer)", len(l.addrs))
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
