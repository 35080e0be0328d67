package storetest

import (
	"testing"
	"time"

	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/token"
)

func (f *fixture) lastUsed(hash string) *time.Time {
	f.t.Helper()
	tok, err := f.s.TokenByHash(f.ctx, hash)
	f.must(err)
	return tok.LastUsedAt
}

func testTouchTokens(t *testing.T, f *fixture) {
	alice := f.user("alice")
	for _, id := range []string{"new", "older", "newer", "absent"} {
		f.must(f.s.CreateToken(f.ctx, store.Token{ID: "tok-" + id, Hash: "hash-" + id,
			Kind: token.User, UserID: alice.ID, CreatedAt: t0}))
	}
	if got := f.lastUsed("hash-new"); got != nil {
		t.Errorf("a new token's LastUsedAt = %v, want nil (never used)", got)
	}
	old, now, later := t0.Add(time.Minute), t0.Add(time.Hour), t0.Add(2*time.Hour)
	f.must(f.s.TouchTokens(f.ctx, map[string]time.Time{"tok-older": old, "tok-newer": later, "tok-absent": old}))
	for what, used := range map[string]map[string]time.Time{"empty": {}, "nil": nil} {
		if err := f.s.TouchTokens(f.ctx, used); err != nil {
			t.Errorf("TouchTokens(%s map): %v", what, err)
		}
	}

	err := f.s.TouchTokens(f.ctx, map[string]time.Time{
		"tok-new": now, "tok-older": now, "tok-newer": now, "tok-unknown": now,
	})
	if err != nil {
		t.Fatalf("TouchTokens with an unknown id: %v", err)
	}
	for hash, want := range map[string]time.Time{
		"hash-new":    now,   // first use
		"hash-older":  now,   // moved forward
		"hash-newer":  later, // an older time leaves it alone
		"hash-absent": old,   // not in the map
	} {
		sameTimePtr(t, "TouchTokens: "+hash, f.lastUsed(hash), &want)
	}
	// Revocation and last use are independent.
	_, err = f.s.RevokeToken(f.ctx, "tok-older", later)
	f.must(err)
	sameTimePtr(t, "LastUsedAt after revocation", f.lastUsed("hash-older"), &now)
}

func testListTokens(t *testing.T, f *fixture) {
	alice, bob := f.user("alice"), f.user("bob")
	f.must(f.s.CreateToken(f.ctx, store.Token{ID: "tok-a2", Hash: "hash-a2", Kind: token.User, UserID: alice.ID, CreatedAt: t0.Add(2 * time.Minute)}))
	f.must(f.s.CreateToken(f.ctx, store.Token{ID: "tok-a1", Hash: "hash-a1", Kind: token.User, UserID: alice.ID, CreatedAt: t0}))
	f.must(f.s.CreateToken(f.ctx, store.Token{ID: "tok-b1", Hash: "hash-b1", Kind: token.User, UserID: bob.ID, CreatedAt: t0}))
	f.agent(alice, "ag-1", "host-1") // token tok-ag-1, created at t0 too
	used, revoked := t0.Add(time.Hour), t0.Add(2*time.Hour)
	f.must(f.s.TouchTokens(f.ctx, map[string]time.Time{"tok-a1": used}))
	_, err := f.s.RevokeToken(f.ctx, "tok-a2", revoked)
	f.must(err)

	toks, err := f.s.ListTokens(f.ctx, alice.ID)
	f.must(err)
	sameIDs(t, "ListTokens(alice)", ids(toks, func(t store.Token) string { return t.ID }),
		[]string{"tok-a1", "tok-ag-1", "tok-a2"}) // oldest first, then by id
	byID := map[string]store.Token{}
	for _, tok := range toks {
		byID[tok.ID] = tok
	}
	a1, ag, a2 := byID["tok-a1"], byID["tok-ag-1"], byID["tok-a2"]
	sameTime(t, "tok-a1 CreatedAt", a1.CreatedAt, t0)
	sameTimePtr(t, "tok-a1 LastUsedAt", a1.LastUsedAt, &used)
	sameTimePtr(t, "tok-a1 RevokedAt", a1.RevokedAt, nil)
	sameTimePtr(t, "tok-a2 RevokedAt", a2.RevokedAt, &revoked)
	sameTimePtr(t, "tok-a2 LastUsedAt", a2.LastUsedAt, nil)
	if ag.Kind != token.Agent || ag.AgentID != "ag-1" || a1.Kind != token.User || a1.Hash != "hash-a1" {
		t.Errorf("ListTokens kinds/agents: %+v %+v", a1, ag)
	}

	none, err := f.s.ListTokens(f.ctx, "u-nobody")
	f.must(err)
	if len(none) != 0 {
		t.Errorf("ListTokens(unknown user) = %v, want none", none)
	}
}
