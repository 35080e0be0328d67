package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
)

func TestBatchesRecordListGet(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, bob := h.user("alice"), h.user("bob")
	id := h.batch(alice, "mnist", "gpu-01")

	var b api.Batch
	h.expect(200, "GET", "/api/batches/"+id, alice, nil).json(t, &b)
	if b.Owner != "alice" || b.Project != "mnist" || b.EnvSnapshot.Host != "gpu-01" ||
		strings.Join(b.EnvSnapshot.Command.Argv, " ") != "python train.py --lr 0.1" || b.EnvSnapshot.Cwd != "/srv/exp" {
		t.Fatalf("batch = %+v", b)
	}
	var list api.BatchList
	h.expect(200, "GET", "/api/batches", alice, nil).json(t, &list)
	if len(list.Batches) != 1 || list.Batches[0].ID != id {
		t.Fatalf("alice's batches = %+v", list)
	}
	h.expect(200, "GET", "/api/batches", bob, nil).json(t, &list)
	if len(list.Batches) != 0 {
		t.Fatalf("bob sees %+v before any share", list)
	}

	// A shell-string command round-trips as a string.
	var c api.Created
	h.expect(201, "POST", "/api/batches", alice,
		`{"project":"mnist","name":"sh","env_snapshot":{"command":"echo hi && sleep 1","cwd":"/tmp","host":"gpu-01"}}`).json(t, &c)
	h.expect(200, "GET", "/api/batches/"+c.ID, alice, nil).json(t, &b)
	if b.EnvSnapshot.Command.Shell != "echo hi && sleep 1" || len(b.EnvSnapshot.Command.Argv) != 0 {
		t.Fatalf("shell command = %+v", b.EnvSnapshot.Command)
	}
}

func TestBatchErrorsChangeNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{MaxBodyBytes: 4096})
	alice, bob := h.user("alice"), h.user("bob")
	id := h.batch(alice, "mnist", "gpu-01")
	before := h.snapshot()
	valid := `{"project":"p","env_snapshot":{"command":["true"],"cwd":"/","host":"h"}}`
	huge := `{"project":"p","name":"` + strings.Repeat("x", 8192) + `","env_snapshot":{"command":["true"],"cwd":"/","host":"h"}}`
	cases := []struct {
		name, method, path, tok string
		body                    any
		code                    int
	}{
		{"malformed JSON", "POST", "/api/batches", alice, `{"project": "p",`, 400},
		{"not an object", "POST", "/api/batches", alice, `[1,2]`, 400},
		{"trailing garbage", "POST", "/api/batches", alice, valid + `{}`, 400},
		{"empty body", "POST", "/api/batches", alice, "", 400},
		{"no command", "POST", "/api/batches", alice, `{"project":"p","env_snapshot":{"cwd":"/","host":"h"}}`, 400},
		{"command of wrong type", "POST", "/api/batches", alice, `{"project":"p","env_snapshot":{"command":42,"cwd":"/","host":"h"}}`, 400},
		{"no host", "POST", "/api/batches", alice, `{"project":"p","env_snapshot":{"command":["true"],"cwd":"/"}}`, 400},
		{"bad project name", "POST", "/api/batches", alice, `{"project":"../etc","env_snapshot":{"command":["true"],"cwd":"/","host":"h"}}`, 400},
		{"oversized body", "POST", "/api/batches", alice, huge, 413},
		{"project owned by someone else", "POST", "/api/batches", bob, `{"project":"mnist","env_snapshot":{"command":["true"],"cwd":"/","host":"h"}}`, 403},
		{"unknown batch", "GET", "/api/batches/bat_nope", alice, nil, 404},
		{"another user's batch", "GET", "/api/batches/" + id, bob, nil, 403},
		{"unknown route", "GET", "/api/nothing", alice, nil, 404},
		{"wrong method", "DELETE", "/api/batches", alice, nil, 405},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			h.expect(c.code, c.method, c.path, c.tok, c.body)
			h.unchanged(before, c.name)
		})
	}
}

func TestShareProject(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, bob := h.user("alice"), h.user("bob")
	h.user("carol")
	id := h.batch(alice, "mnist", "gpu-01")
	before := h.snapshot()
	h.expect(403, "POST", "/api/projects/mnist/recipients", bob, api.ShareRequest{User: "bob"})
	h.expect(404, "POST", "/api/projects/nope/recipients", alice, api.ShareRequest{User: "bob"})
	h.expect(404, "POST", "/api/projects/mnist/recipients", alice, api.ShareRequest{User: "nobody"})
	h.expect(400, "POST", "/api/projects/mnist/recipients", alice, `{}`)
	h.unchanged(before, "failed shares")

	var p api.Project
	h.expect(200, "POST", "/api/projects/mnist/recipients", alice, api.ShareRequest{User: "bob"}).json(t, &p)
	if p.Owner != "alice" || len(p.Recipients) != 1 || p.Recipients[0] != "bob" {
		t.Fatalf("project = %+v", p)
	}
	// Sharing twice is a no-op.
	h.expect(200, "POST", "/api/projects/mnist/recipients", alice, api.ShareRequest{User: "bob"}).json(t, &p)
	if len(p.Recipients) != 1 {
		t.Fatalf("recipients after a repeated share = %v", p.Recipients)
	}
	var b api.Batch
	h.expect(200, "GET", "/api/batches/"+id, bob, nil).json(t, &b)
	var list api.BatchList
	h.expect(200, "GET", "/api/batches", bob, nil).json(t, &list)
	if len(list.Batches) != 1 {
		t.Fatalf("bob's batches after share = %+v", list)
	}
	// A recipient may record into the shared project; carol still may not.
	h.batch(bob, "mnist", "gpu-01")
	h.expect(403, "GET", "/api/batches/"+id, h.tokenFor("carol"), nil)
}

// A live token recorded in a batch would be readable by every recipient of
// its project: the server refuses it wherever it sits, names the field,
// never echoes the token, and stores nothing.
func TestBatchHoldingATokenIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	_, agentTok := h.agent(alice, "gpu-01", "", false)
	snap := func() api.EnvSnapshot {
		return api.EnvSnapshot{Command: api.CommandLine{Argv: []string{"python", "train.py"}}, Cwd: "/srv", Host: "gpu-01",
			Env: map[string]string{"PATH": "/usr/bin"}}
	}
	cases := map[string]func(*api.CreateBatchRequest){
		"env value": func(r *api.CreateBatchRequest) { r.EnvSnapshot.Env["WANDB_URL"] = "https://x:" + alice + "@h" },
		"env name":  func(r *api.CreateBatchRequest) { r.EnvSnapshot.Env[alice] = "1" },
		"argv": func(r *api.CreateBatchRequest) {
			r.EnvSnapshot.Command.Argv = append(r.EnvSnapshot.Command.Argv, "--token="+agentTok)
		},
		"shell line": func(r *api.CreateBatchRequest) {
			r.EnvSnapshot.Command = api.CommandLine{Shell: "ARGUS_TOKEN=" + alice + " train"}
		},
		"cwd": func(r *api.CreateBatchRequest) { r.EnvSnapshot.Cwd = "/tmp/" + alice },
	}
	for name, spoil := range cases {
		req := api.CreateBatchRequest{Project: "mnist", Name: "t", EnvSnapshot: snap()}
		spoil(&req)
		before := h.snapshot()
		r := h.expect(400, "POST", "/api/batches", alice, req)
		if body := string(r.body); !strings.Contains(body, "token") || strings.Contains(body, alice) || strings.Contains(body, agentTok) {
			t.Errorf("%s: answer %s (want the field named, no token echoed)", name, body)
		}
		h.unchanged(before, "a batch holding a token in its "+name)
	}
	// Text that only mentions a prefix is not a token.
	req := api.CreateBatchRequest{Project: "mnist", Name: "t", EnvSnapshot: snap()}
	req.EnvSnapshot.Env["HELP"] = "tokens look like em_live_…"
	h.expect(201, "POST", "/api/batches", alice, req)
}

// errorOf is the message of a JSON error answer.
func errorOf(t *testing.T, r response) string {
	t.Helper()
	var e api.Error
	r.json(t, &e)
	return e.Error
}

func TestUnshareProject(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, bob := h.user("alice"), h.user("bob")
	carol := h.user("carol")
	id := h.batch(alice, "mnist", "gpu-01")
	agentID, agentTok := h.agent(alice, "gpu-01", "", true)
	h.expect(200, "POST", "/api/projects/mnist/recipients", alice, api.ShareRequest{User: "bob"})
	// While shared, bob may rerun (the run goes to alice's agent) and see it.
	q := h.started(bob, id, agentID, agentTok, 7)
	h.expect(200, "GET", "/api/batches/"+id, bob, nil)
	h.expect(200, "GET", "/api/runs/"+q.RunID, bob, nil)

	// Refusals change nothing.
	before := h.snapshot()
	h.expect(403, "DELETE", "/api/projects/mnist/recipients/bob", bob, nil)   // the recipient himself
	h.expect(403, "DELETE", "/api/projects/mnist/recipients/bob", carol, nil) // a stranger
	h.expect(401, "DELETE", "/api/projects/mnist/recipients/bob", "", nil)
	h.expect(404, "DELETE", "/api/projects/nope/recipients/bob", alice, nil)
	h.expect(404, "DELETE", "/api/projects/nope/recipients/bob", carol, nil)
	h.expect(404, "DELETE", "/api/projects/mnist/recipients/nobody", alice, nil)
	r := h.expect(404, "DELETE", "/api/projects/mnist/recipients/carol", alice, nil)
	if msg := errorOf(t, r); !strings.Contains(msg, "not shared with carol") {
		t.Errorf("unsharing with a non-recipient: error %q, want it to say the project is not shared with carol", msg)
	}
	h.unchanged(before, "refused unshares")

	r = h.expect(204, "DELETE", "/api/projects/mnist/recipients/bob", alice, nil)
	if len(r.body) != 0 {
		t.Errorf("204 answer has a body: %q", r.body)
	}
	p, err := h.store.Project(context.Background(), "mnist")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.RecipientIDs) != 0 {
		t.Fatalf("recipients after unshare = %v", p.RecipientIDs)
	}

	// Bob is a stranger again at once: no view, no rerun, no stop, and
	// his refused requests queue nothing.
	before = h.snapshot()
	h.expect(403, "GET", "/api/batches/"+id, carol, nil) // what any stranger gets
	h.expect(403, "GET", "/api/batches/"+id, bob, nil)
	h.expect(403, "GET", "/api/runs/"+q.RunID, bob, nil)
	var list api.BatchList
	h.expect(200, "GET", "/api/batches", bob, nil).json(t, &list)
	if len(list.Batches) != 0 {
		t.Errorf("bob's batches after unshare = %+v", list.Batches)
	}
	var runs api.RunList
	h.expect(200, "GET", "/api/runs", bob, nil).json(t, &runs)
	if len(runs.Runs) != 0 {
		t.Errorf("bob's runs after unshare = %+v", runs.Runs)
	}
	h.expect(403, "POST", "/api/batches/"+id+"/rerun", bob, nil)
	h.expect(403, "POST", "/api/batches/"+id+"/rerun", bob, api.RerunRequest{AgentID: agentID})
	h.expect(403, "POST", "/api/runs/"+q.RunID+"/stop", bob, nil)
	h.unchanged(before, "the former recipient's requests")

	// Unsharing again is a 404 that changes nothing.
	r = h.expect(404, "DELETE", "/api/projects/mnist/recipients/bob", alice, nil)
	if msg := errorOf(t, r); !strings.Contains(msg, "not shared with bob") {
		t.Errorf("repeated unshare: error %q, want it to say the project is not shared with bob", msg)
	}
	h.unchanged(before, "a repeated unshare")

	// The owner keeps full control, and may share again.
	h.expect(200, "GET", "/api/batches/"+id, alice, nil)
	h.expect(200, "POST", "/api/projects/mnist/recipients", alice, api.ShareRequest{User: "bob"})
	h.expect(200, "GET", "/api/batches/"+id, bob, nil)
}

// Each user's default project is their own: recording without a project
// (or into "default") files the batch under default-<user>, so the first
// user to record does not lock everyone else out; another user's
// default-… name is refused.
func TestEachUserHasTheirOwnDefaultProject(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, bob := h.user("alice"), h.user("bob")
	body := func(project string) api.CreateBatchRequest {
		return api.CreateBatchRequest{Project: project, EnvSnapshot: api.EnvSnapshot{
			Command: api.CommandLine{Argv: []string{"true"}}, Cwd: "/srv", Host: "gpu-01"}}
	}
	for _, c := range []struct{ tok, project, want string }{
		{alice, "", "default-alice"}, {bob, "", "default-bob"},
		{alice, "default", "default-alice"}, {bob, "default", "default-bob"},
		{bob, "default-bob", "default-bob"},
	} {
		var created api.Created
		h.expect(201, "POST", "/api/batches", c.tok, body(c.project)).json(t, &created)
		var b api.Batch
		h.expect(200, "GET", "/api/batches/"+created.ID, c.tok, nil).json(t, &b)
		if b.Project != c.want {
			t.Fatalf("recorded into %q: project %q, want %q", c.project, b.Project, c.want)
		}
	}
	before := h.snapshot()
	h.expect(400, "POST", "/api/batches", bob, body("default-alice"))
	h.expect(400, "POST", "/api/batches", bob, body("default-carol"))
	h.unchanged(before, "recording into another user's default project")
}
