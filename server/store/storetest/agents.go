package storetest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/token"
)

func (f *fixture) heartbeat(id string) time.Time {
	f.t.Helper()
	a, err := f.s.Agent(f.ctx, id)
	f.must(err)
	return a.LastHeartbeat
}

func testHeartbeats(t *testing.T, f *fixture) {
	alice := f.user("alice")
	old, now, later := t0.Add(time.Minute), t0.Add(time.Hour), t0.Add(2*time.Hour)
	for _, id := range []string{"ag-new", "ag-older", "ag-newer", "ag-absent"} {
		f.agent(alice, id, "host-"+id)
	}
	f.must(f.s.Heartbeat(f.ctx, "ag-older", old))
	f.must(f.s.Heartbeat(f.ctx, "ag-newer", later))
	f.must(f.s.Heartbeat(f.ctx, "ag-absent", old))

	for what, beats := range map[string]map[string]time.Time{"empty": {}, "nil": nil} {
		if err := f.s.Heartbeats(f.ctx, beats); err != nil {
			t.Errorf("Heartbeats(%s map): %v", what, err)
		}
	}
	sameTime(t, "heartbeat after empty Heartbeats", f.heartbeat("ag-older"), old)

	// Many agents, so that an engine writing them one by one shows up in
	// the suite's run time, and more than one statement's worth (engines
	// write a few hundred per statement); each gets its own time.
	const many = 600
	beats := map[string]time.Time{
		"ag-new": now, "ag-older": now, "ag-newer": now, "ag-unknown": now,
	}
	for i := range many {
		id := fmt.Sprintf("ag-%03d", i)
		f.agent(alice, id, "host-"+id)
		beats[id] = now.Add(time.Duration(i) * time.Millisecond)
	}
	if err := f.s.Heartbeats(f.ctx, beats); err != nil {
		t.Fatalf("Heartbeats with an unknown agent: %v", err)
	}

	for id, want := range map[string]time.Time{
		"ag-new":    now,   // first heartbeat
		"ag-older":  now,   // moved forward
		"ag-newer":  later, // an older time leaves it alone
		"ag-absent": old,   // not in the map
	} {
		sameTime(t, "Heartbeats: "+id, f.heartbeat(id), want)
	}
	for i := range many {
		id := fmt.Sprintf("ag-%03d", i)
		sameTime(t, "Heartbeats: "+id, f.heartbeat(id), beats[id])
	}
	_, err := f.s.Agent(f.ctx, "ag-unknown")
	wantErr(t, "Agent named only in Heartbeats", err, store.ErrNotFound)
}

func testRotateAgentToken(t *testing.T, f *fixture) {
	alice, bob := f.user("alice"), f.user("bob")
	a := store.Agent{ID: "ag-1", UserID: alice.ID, Hostname: "gpu1", Label: "old", OS: "linux",
		Arch: "amd64", Version: "1.0.0", Properties: map[string]string{"gpus": "2"}, CreatedAt: t0}
	f.must(f.s.RegisterAgent(f.ctx, a, agentToken(a)))
	beat := t0.Add(time.Minute)
	f.must(f.s.Heartbeat(f.ctx, a.ID, beat))
	other := f.agent(alice, "ag-2", "gpu2")
	revokedEarlier := t0.Add(2 * time.Minute)
	for _, tok := range []store.Token{
		{ID: "tok-spare", Hash: "hash-spare", Kind: token.Agent, UserID: alice.ID, AgentID: a.ID, CreatedAt: t0},
		{ID: "tok-early", Hash: "hash-early", Kind: token.Agent, UserID: alice.ID, AgentID: a.ID,
			CreatedAt: t0, RevokedAt: &revokedEarlier},
		{ID: "tok-user", Hash: "hash-user", Kind: token.User, UserID: alice.ID, CreatedAt: t0},
	} {
		f.must(f.s.CreateToken(f.ctx, tok))
	}

	// Owner, creation time and heartbeat in the argument must be ignored.
	at := t0.Add(time.Hour)
	next := store.Agent{ID: a.ID, UserID: bob.ID, Hostname: "gpu1-new", Label: "new", OS: "darwin",
		Arch: "arm64", Version: "2.0.0", Properties: map[string]string{"gpus": "8", "cuda": "12.4"},
		CreatedAt: at, LastHeartbeat: at}
	fresh := store.Token{ID: "tok-new", Hash: "hash-new", Kind: token.Agent, UserID: alice.ID,
		AgentID: a.ID, CreatedAt: at}
	f.must(f.s.RotateAgentToken(f.ctx, next, fresh, at))

	want := next
	want.UserID, want.CreatedAt, want.LastHeartbeat = alice.ID, t0, beat
	got, err := f.s.Agent(f.ctx, a.ID)
	f.must(err)
	sameAgent(t, "Agent after rotation", got, want)
	listed := f.agents(alice.ID)
	if len(listed) != 2 {
		t.Fatalf("ListAgents(alice) after rotation: %d agents, want 2", len(listed))
	}
	for _, l := range listed {
		if l.ID == a.ID {
			sameAgent(t, "listed agent after rotation", l, want)
		}
	}

	wantTokenRevoked(t, f, "hash-ag-1", &at)
	wantTokenRevoked(t, f, "hash-spare", &at)
	wantTokenRevoked(t, f, "hash-early", &revokedEarlier) // first revocation kept
	wantTokenRevoked(t, f, "hash-new", nil)
	wantTokenRevoked(t, f, "hash-"+other.ID, nil)
	wantTokenRevoked(t, f, "hash-user", nil)
	if tok, err := f.s.TokenByHash(f.ctx, "hash-new"); err != nil ||
		tok.ID != fresh.ID || tok.AgentID != a.ID || tok.Kind != token.Agent || tok.UserID != alice.ID {
		t.Errorf("new token = %+v, %v; want %+v", tok, err, fresh)
	}

	ghost, ghostTok := next, fresh
	ghost.ID, ghostTok.ID, ghostTok.Hash, ghostTok.AgentID = "ag-unknown", "tok-ghost", "hash-ghost", "ag-unknown"
	wantErr(t, "RotateAgentToken(unknown agent)", f.s.RotateAgentToken(f.ctx, ghost, ghostTok, at), store.ErrNotFound)
	_, err = f.s.TokenByHash(f.ctx, "hash-ghost")
	wantErr(t, "token of the unknown agent's rotation", err, store.ErrNotFound)

	// One transaction: a token that cannot be stored leaves the agent and
	// its live token as they were.
	clashing, clash := next, fresh
	clashing.Hostname = "gpu1-clash"
	clash.ID, clash.Hash = "tok-clash", "hash-"+other.ID
	if err := f.s.RotateAgentToken(f.ctx, clashing, clash, at.Add(time.Hour)); err == nil {
		t.Fatal("RotateAgentToken with a taken token hash succeeded")
	}
	got, err = f.s.Agent(f.ctx, a.ID)
	f.must(err)
	sameAgent(t, "Agent after a failed rotation", got, want)
	wantTokenRevoked(t, f, "hash-new", nil)
}

// sameAgent compares agents, their times by instant.
func sameAgent(t *testing.T, what string, got, want store.Agent) {
	t.Helper()
	sameTime(t, what+" CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, what+" LastHeartbeat", got.LastHeartbeat, want.LastHeartbeat)
	got.CreatedAt, got.LastHeartbeat = time.Time{}, time.Time{}
	want.CreatedAt, want.LastHeartbeat = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
}

// wantTokenRevoked checks a token's revocation time; nil means live.
func wantTokenRevoked(t *testing.T, f *fixture, hash string, at *time.Time) {
	t.Helper()
	tok, err := f.s.TokenByHash(f.ctx, hash)
	if err != nil {
		t.Errorf("TokenByHash(%s): %v", hash, err)
		return
	}
	sameTimePtr(t, hash+" RevokedAt", tok.RevokedAt, at)
}

func testAgentRevoked(t *testing.T, f *fixture) {
	alice := f.user("alice")
	a := f.agent(alice, "ag-1", "gpu1")
	f.agent(alice, "ag-2", "gpu2")
	f.must(f.s.CreateToken(f.ctx, store.Token{ID: "tok-user", Hash: "hash-user", Kind: token.User,
		UserID: alice.ID, CreatedAt: t0}))
	f.must(f.s.CreateToken(f.ctx, store.Token{ID: "tok-1b", Hash: "hash-1b", Kind: token.Agent,
		UserID: alice.ID, AgentID: a.ID, CreatedAt: t0}))
	wantRevoked := func(when string, want map[string]bool) {
		t.Helper()
		for id, revoked := range want {
			got, err := f.s.Agent(f.ctx, id)
			f.must(err)
			if got.Revoked != revoked {
				t.Errorf("%s: Agent(%s).Revoked = %v, want %v", when, id, got.Revoked, revoked)
			}
		}
		listed := f.agents(alice.ID)
		for _, got := range listed {
			if got.Revoked != want[got.ID] {
				t.Errorf("%s: listed %s Revoked = %v, want %v", when, got.ID, got.Revoked, want[got.ID])
			}
		}
	}
	wantRevoked("after registering", map[string]bool{"ag-1": false, "ag-2": false})

	at := t0.Add(time.Hour)
	_, err := f.s.RevokeToken(f.ctx, "tok-ag-1", at)
	f.must(err)
	wantRevoked("with one token of two revoked", map[string]bool{"ag-1": false, "ag-2": false})
	// The user's own token, still live, belongs to no agent.
	_, err = f.s.RevokeToken(f.ctx, "hash-1b", at)
	f.must(err)
	wantRevoked("with every token revoked", map[string]bool{"ag-1": true, "ag-2": false})

	fresh := store.Token{ID: "tok-new", Hash: "hash-new", Kind: token.Agent, UserID: alice.ID,
		AgentID: a.ID, CreatedAt: at}
	f.must(f.s.RotateAgentToken(f.ctx, a, fresh, at))
	wantRevoked("after rotation", map[string]bool{"ag-1": false, "ag-2": false})
}

// testPing checks that Ping answers on an open store and does not pretend
// to once the store is closed.
func testPing(t *testing.T, f *fixture) {
	if err := f.s.Ping(f.ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	f.must(f.s.Close())
	if err := f.s.Ping(f.ctx); err == nil {
		t.Error("Ping after Close succeeded")
	}
}

// testAgentsOnHost: a user's agents on one host, its name in any case,
// revoked ones marked; nobody else's, and no other host's.
func testAgentsOnHost(t *testing.T, f *fixture) {
	alice, bob := f.user("alice"), f.user("bob")
	a1 := f.agent(alice, "a1", "GPU-01")
	a2 := f.agent(alice, "a2", "gpu-01")
	f.agent(alice, "a3", "gpu-02")
	f.agent(bob, "b1", "gpu-01")
	if _, err := f.s.RevokeToken(f.ctx, "tok-a2", t0); err != nil {
		t.Fatal(err)
	}
	got, err := f.s.AgentsOnHost(f.ctx, alice.ID, "Gpu-01")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != a1.ID || got[1].ID != a2.ID {
		t.Fatalf("alice's agents on Gpu-01 = %+v, want a1 and a2", got)
	}
	if got[0].Revoked || !got[1].Revoked || got[0].Hostname != "GPU-01" {
		t.Fatalf("agents = %+v, want a2 revoked, names as registered", got)
	}
	if none, err := f.s.AgentsOnHost(f.ctx, alice.ID, "gpu-03"); err != nil || len(none) != 0 {
		t.Fatalf("agents on an unknown host = %+v, %v", none, err)
	}
}
