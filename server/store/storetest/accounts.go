package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/token"
)

func testUsers(t *testing.T, f *fixture) {
	// A non-UTC creation time must come back as the same instant in UTC.
	created := t0.In(time.FixedZone("CET", 3600))
	alice := store.User{ID: "u-alice", Name: "alice", CreatedAt: created}
	f.must(f.s.CreateUser(f.ctx, alice))

	for what, get := range map[string]func() (store.User, error){
		"UserByName": func() (store.User, error) { return f.s.UserByName(f.ctx, "alice") },
		"UserByID":   func() (store.User, error) { return f.s.UserByID(f.ctx, "u-alice") },
	} {
		u, err := get()
		f.must(err)
		if u.ID != alice.ID || u.Name != alice.Name {
			t.Errorf("%s = %+v, want %+v", what, u, alice)
		}
		sameTime(t, what+".CreatedAt", u.CreatedAt, t0)
	}

	err := f.s.CreateUser(f.ctx, store.User{ID: "u-alice2", Name: "alice", CreatedAt: t0})
	wantErr(t, "CreateUser with a taken name", err, store.ErrExists)
	_, err = f.s.UserByID(f.ctx, "u-alice2")
	wantErr(t, "UserByID of the refused duplicate", err, store.ErrNotFound)
	_, err = f.s.UserByName(f.ctx, "nobody")
	wantErr(t, "UserByName(nobody)", err, store.ErrNotFound)
	_, err = f.s.UserByID(f.ctx, "u-nobody")
	wantErr(t, "UserByID(u-nobody)", err, store.ErrNotFound)
}

func testTokens(t *testing.T, f *fixture) {
	alice := f.user("alice")
	tok := store.Token{ID: "tok-1", Hash: "hash-1", Kind: token.User, UserID: alice.ID, CreatedAt: t0}
	f.must(f.s.CreateToken(f.ctx, tok))

	got, err := f.s.TokenByHash(f.ctx, "hash-1")
	f.must(err)
	if got.ID != tok.ID || got.Hash != tok.Hash || got.Kind != token.User ||
		got.UserID != alice.ID || got.AgentID != "" || got.RevokedAt != nil {
		t.Errorf("TokenByHash = %+v, want %+v", got, tok)
	}
	sameTime(t, "Token.CreatedAt", got.CreatedAt, t0)

	_, err = f.s.TokenByHash(f.ctx, "hash-unknown")
	wantErr(t, "TokenByHash(unknown)", err, store.ErrNotFound)
	dup := tok
	dup.ID = "tok-2"
	wantErr(t, "CreateToken with a taken hash", f.s.CreateToken(f.ctx, dup), store.ErrExists)
}

func testRevokeToken(t *testing.T, f *fixture) {
	alice := f.user("alice")
	for _, id := range []string{"1", "2"} {
		f.must(f.s.CreateToken(f.ctx, store.Token{ID: "tok-" + id, Hash: "hash-" + id,
			Kind: token.User, UserID: alice.ID, CreatedAt: t0}))
	}
	first, second := t0.Add(time.Minute), t0.Add(time.Hour)

	got, err := f.s.RevokeToken(f.ctx, "tok-1", first)
	f.must(err)
	if got.ID != "tok-1" {
		t.Errorf("RevokeToken(tok-1) returned token %q", got.ID)
	}
	sameTimePtr(t, "RevokeToken(id).RevokedAt", got.RevokedAt, &first)

	// Again, by hash this time: no error, first revocation time kept.
	got, err = f.s.RevokeToken(f.ctx, "hash-1", second)
	f.must(err)
	sameTimePtr(t, "second RevokeToken.RevokedAt", got.RevokedAt, &first)
	stored, err := f.s.TokenByHash(f.ctx, "hash-1")
	f.must(err)
	sameTimePtr(t, "stored RevokedAt", stored.RevokedAt, &first)

	got, err = f.s.RevokeToken(f.ctx, "hash-2", second)
	f.must(err)
	if got.ID != "tok-2" {
		t.Errorf("RevokeToken(hash-2) returned token %q", got.ID)
	}
	sameTimePtr(t, "RevokeToken(hash).RevokedAt", got.RevokedAt, &second)

	_, err = f.s.RevokeToken(f.ctx, "tok-unknown", second)
	wantErr(t, "RevokeToken(unknown)", err, store.ErrNotFound)
}

func testRegisterAgent(t *testing.T, f *fixture) {
	alice := f.user("alice")
	a := store.Agent{ID: "ag-1", UserID: alice.ID, Hostname: "gpu1", Label: "night", OS: "linux",
		Arch: "arm64", Version: "1.2.3", Properties: map[string]string{"gpus": "8", "cuda": "12.4"},
		CreatedAt: t0}
	f.must(f.s.RegisterAgent(f.ctx, a, agentToken(a)))

	got, err := f.s.Agent(f.ctx, "ag-1")
	f.must(err)
	if !got.LastHeartbeat.IsZero() {
		t.Errorf("LastHeartbeat before any heartbeat = %v, want zero", got.LastHeartbeat)
	}
	sameTime(t, "Agent.CreatedAt", got.CreatedAt, t0)
	got.CreatedAt, a.CreatedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, a) {
		t.Errorf("Agent = %+v, want %+v", got, a)
	}

	tok, err := f.s.TokenByHash(f.ctx, "hash-ag-1")
	f.must(err)
	if tok.Kind != token.Agent || tok.AgentID != "ag-1" || tok.UserID != alice.ID {
		t.Errorf("agent token = %+v, want kind %q of agent ag-1 and user %s", tok, token.Agent, alice.ID)
	}
	_, err = f.s.Agent(f.ctx, "ag-unknown")
	wantErr(t, "Agent(unknown)", err, store.ErrNotFound)

	// One transaction: a token that cannot be stored leaves no agent behind.
	b := store.Agent{ID: "ag-2", UserID: alice.ID, Hostname: "gpu2", CreatedAt: t0}
	clash := agentToken(b)
	clash.Hash = "hash-ag-1"
	if err := f.s.RegisterAgent(f.ctx, b, clash); err == nil {
		t.Fatal("RegisterAgent with a taken token hash succeeded")
	}
	_, err = f.s.Agent(f.ctx, "ag-2")
	wantErr(t, "Agent after failed RegisterAgent", err, store.ErrNotFound)
}

func testListAgents(t *testing.T, f *fixture) {
	alice, bob, carol := f.user("alice"), f.user("bob"), f.user("carol")
	f.agent(alice, "ag-a1", "gpu1")
	f.agent(bob, "ag-b1", "gpu1")
	f.agent(alice, "ag-a2", "gpu2")

	got := f.agents(alice.ID)
	gotIDs := ids(got, agentID)
	slices.Sort(gotIDs)
	sameIDs(t, "ListAgents(alice)", gotIDs, []string{"ag-a1", "ag-a2"})
	got = f.agents(carol.ID)
	sameIDs(t, "ListAgents(carol)", ids(got, agentID), nil)
}

func testHeartbeat(t *testing.T, f *fixture) {
	a := f.agent(f.user("alice"), "ag-1", "gpu1")
	for _, at := range []time.Time{t0.Add(time.Second), t0.Add(time.Minute)} {
		f.must(f.s.Heartbeat(f.ctx, a.ID, at))
		got, err := f.s.Agent(f.ctx, a.ID)
		f.must(err)
		sameTime(t, "LastHeartbeat", got.LastHeartbeat, at)
	}
	// A heartbeat older than the stored one (written late by another
	// replica) leaves the stored one alone, and is no error.
	f.must(f.s.Heartbeat(f.ctx, a.ID, t0.Add(30*time.Second)))
	got, err := f.s.Agent(f.ctx, a.ID)
	f.must(err)
	sameTime(t, "LastHeartbeat after an older heartbeat", got.LastHeartbeat, t0.Add(time.Minute))
	wantErr(t, "Heartbeat(unknown)", f.s.Heartbeat(f.ctx, "ag-unknown", t0), store.ErrNotFound)
}

func testStats(t *testing.T, f *fixture) {
	since := t0.Add(time.Hour)
	st, err := f.s.Stats(f.ctx, since)
	f.must(err)
	wantStats(t, "empty store", st, 0, 0, 0, 0)

	alice := f.user("alice")
	beats := map[string]*time.Time{
		"ag-at":     &since,                            // exactly at onlineSince: online
		"ag-after":  ptr(since.Add(time.Minute)),       // online
		"ag-before": ptr(since.Add(-time.Millisecond)), // offline
		"ag-never":  nil,                               // offline
	}
	agents := map[string]store.Agent{}
	for id, at := range beats {
		agents[id] = f.agent(alice, id, "gpu-"+id)
		if at != nil {
			f.must(f.s.Heartbeat(f.ctx, id, *at))
		}
	}

	b := f.batch(alice, "proj", "b-1", t0)
	a := agents["ag-at"]
	_, c1 := f.rerun(b, a, "r-1", t0)
	f.rerun(b, a, "r-2", t0.Add(time.Second))
	f.rerun(b, a, "r-3", t0.Add(2*time.Second))
	_, err = f.s.ClaimCommands(f.ctx, a.ID, t0.Add(time.Minute), time.Minute, 2)
	f.must(err)
	_, _, err = f.s.AckCommand(f.ctx, a.ID, c1.ID, api.AckRequest{PID: 10}, t0.Add(time.Minute))
	f.must(err)

	st, err = f.s.Stats(f.ctx, since)
	f.must(err)
	wantStats(t, "after claims and an ack", st, 2, 1, 1, 1)
}

func wantStats(t *testing.T, when string, st store.Stats, online, queued, delivered, acked int) {
	t.Helper()
	if st.AgentsOnline != online {
		t.Errorf("%s: AgentsOnline = %d, want %d", when, st.AgentsOnline, online)
	}
	want := map[store.CommandState]int{
		store.CmdQueued: queued, store.CmdDelivered: delivered, store.CmdAcked: acked,
	}
	if !reflect.DeepEqual(st.CommandsByState, want) {
		t.Errorf("%s: CommandsByState = %v, want %v", when, st.CommandsByState, want)
	}
}

// testClose checks that Close succeeds and that the store refuses work
// afterwards instead of pretending to serve it.
func testClose(t *testing.T, f *fixture) {
	f.user("alice")
	if err := f.s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := f.s.UserByName(f.ctx, "alice"); err == nil {
		t.Error("UserByName after Close succeeded")
	}
}

func testEndSessions(t *testing.T, f *fixture) {
	f.must(f.s.CreateUser(f.ctx, store.User{ID: "u-alice", Name: "alice", CreatedAt: t0}))
	if u, err := f.s.UserByID(f.ctx, "u-alice"); err != nil || !u.SessionsBefore.IsZero() {
		t.Fatalf("a new user's session cut-off = %v, %v; want none", u.SessionsBefore, err)
	}
	later := t0.Add(time.Hour)
	f.must(f.s.EndSessions(f.ctx, "u-alice", later))
	f.must(f.s.EndSessions(f.ctx, "u-alice", t0)) // never backwards
	u, err := f.s.UserByName(f.ctx, "alice")
	f.must(err)
	sameTime(t, "SessionsBefore", u.SessionsBefore, later)
	wantErr(t, "EndSessions of an unknown user", f.s.EndSessions(f.ctx, "u-nobody", later), store.ErrNotFound)
}
