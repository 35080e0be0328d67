package server_test

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
)

// sharedWithBob is a harness that keeps its log, with alice's mnist batch
// on gpu-01 shared with bob and her online agent there.
func sharedWithBob(t *testing.T) (h *harness, log *lockedBuffer, alice, bob, batchID, agentID, agentTok string) {
	log = new(lockedBuffer)
	logger := zerolog.New(log)
	h = newHarness(t, server.Config{Logger: &logger})
	alice, bob = h.user("alice"), h.user("bob")
	batchID = h.batch(alice, "mnist", "gpu-01")
	h.expect(200, "POST", "/api/projects/mnist/recipients", alice, api.ShareRequest{User: "bob"})
	agentID, agentTok = h.agent(alice, "gpu-01", "", true)
	return h, log, alice, bob, batchID, agentID, agentTok
}

// TestRunsNameWhoAskedAndWhy: a recipient reruns the owner's batch and
// stops the run with a reason; the run says so in every read, the agent's
// commands carry it, and the access log names each acting user and never
// a token.
func TestRunsNameWhoAskedAndWhy(t *testing.T) {
	t.Parallel()
	h, buf, alice, bob, id, agentID, agentTok := sharedWithBob(t)

	q := h.started(bob, id, agentID, agentTok, 4242)
	if r := h.run(q.RunID, alice); r.RequestedBy != "bob" || r.StoppedBy != "" || r.StopReason != "" {
		t.Fatalf("run rerun by bob = %+v, want requested_by bob and no stop", r)
	}
	reason := "GPU needed for the deadline run — 締め切り"
	h.expect(202, "POST", "/api/runs/"+q.RunID+"/stop", bob, api.StopRequest{Reason: reason})
	cmds := h.jobs(agentID, agentTok)
	if len(cmds) != 1 || cmds[0].Stop == nil || cmds[0].Stop.StoppedBy != "bob" || cmds[0].Stop.Reason != reason {
		t.Fatalf("stop command = %+v, want stopped_by bob and the reason", cmds)
	}
	h.expect(200, "POST", "/api/agents/"+agentID+"/jobs/"+cmds[0].ID+"/ack", agentTok, api.AckRequest{Outcome: api.StopTerminated})
	h.expect(200, "POST", "/api/agents/"+agentID+"/runs/"+q.RunID+"/exit", agentTok, api.ExitReport{Signal: "SIGTERM"})

	want := func(what string, r api.Run) {
		t.Helper()
		if r.Status != api.RunStopped || r.RequestedBy != "bob" || r.StoppedBy != "bob" || r.StopReason != reason {
			t.Errorf("%s: status %s, requested_by %q, stopped_by %q, stop_reason %q", what, r.Status, r.RequestedBy, r.StoppedBy, r.StopReason)
		}
	}
	want("GET /api/runs/{id}", h.run(q.RunID, alice))
	var list api.RunList
	h.expect(200, "GET", "/api/runs", alice, nil).json(t, &list)
	var b api.Batch
	h.expect(200, "GET", "/api/batches/"+id, bob, nil).json(t, &b)
	if len(list.Runs) != 1 || len(b.Runs) != 1 {
		t.Fatalf("lists: %d runs, batch %d runs; want 1 each", len(list.Runs), len(b.Runs))
	}
	want("GET /api/runs", list.Runs[0])
	want("GET /api/batches/{id}", b.Runs[0])

	lines := accessLines(t, buf.String())
	wantUser(t, lines, "POST /api/batches/{id}/rerun", 202, "bob", "")
	wantUser(t, lines, "POST /api/runs/{run_id}/stop", 202, "bob", "")
	wantUser(t, lines, "POST /api/projects/{project}/recipients", 200, "alice", "")
	wantUser(t, lines, "GET /api/agents/{agent_id}/jobs", 200, "alice", agentID)
	h.expect(401, "GET", "/api/runs", bob[:len(bob)-1]+flip(bob[len(bob)-1]), nil)
	h.expect(200, "GET", "/healthz", "", nil)
	lines = accessLines(t, buf.String())
	wantUser(t, lines, "GET /api/runs", 401, "", "")
	wantUser(t, lines, "GET /healthz", 200, "", "")
	for _, secret := range []string{"em_live_", "ag_live_", alice[8:20], bob[8:20], agentTok[8:20]} {
		if strings.Contains(buf.String(), secret) {
			t.Fatalf("access log holds %q", secret)
		}
	}
}

// accessLines parses the server's JSON log.
func accessLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if m["message"] == "request" {
			lines = append(lines, m)
		}
	}
	return lines
}

// wantUser fails unless some access-log line for route and status names
// user (none when empty) and agent (none when empty), and none of them
// names anyone else.
func wantUser(t *testing.T, lines []map[string]any, route string, status int, user, agent string) {
	t.Helper()
	found := false
	for _, m := range lines {
		if m["route"] != route || m["status"] != float64(status) {
			continue
		}
		found = true
		gotUser, _ := m["user"].(string)
		gotAgent, _ := m["agent_id"].(string)
		if gotUser != user || gotAgent != agent {
			t.Errorf("access log %s %d: user %q agent_id %q, want %q and %q", route, status, gotUser, gotAgent, user, agent)
		}
	}
	if !found {
		t.Errorf("no access-log line for %s %d", route, status)
	}
}

// TestStopReasonLimits: a reason of 500 characters is taken whatever its
// bytes; one more character, or a control character, is 400 naming the
// field, and nothing is stored.
func TestStopReasonLimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	id := h.batch(alice, "mnist", "gpu-01")
	agentID, agentTok := h.agent(alice, "gpu-01", "", true)
	q := h.started(alice, id, agentID, agentTok, 4242)
	before := h.snapshot()
	for name, reason := range map[string]string{
		"501 characters": strings.Repeat("é", api.MaxStopReason+1),
		"newline":        "disk full\nrun_x stopped by root",
		"escape":         "\x1b[2Jgone",
		"DEL":            "a\x7f",
		"C1":             "a\u0085b",
	} {
		r := h.expect(400, "POST", "/api/runs/"+q.RunID+"/stop", alice, api.StopRequest{Reason: reason})
		if !strings.Contains(string(r.body), "reason") {
			t.Errorf("%s: error %s does not name the field", name, r.body)
		}
		h.unchanged(before, "a stop with a bad reason ("+name+")")
	}
	long := strings.Repeat("é", api.MaxStopReason) // 1000 bytes
	h.expect(202, "POST", "/api/runs/"+q.RunID+"/stop", alice, api.StopRequest{Reason: long})
	if r := h.run(q.RunID, alice); r.StopReason != long || r.StoppedBy != "alice" {
		t.Fatalf("run after a 500-character reason: stopped_by %q, reason of %d characters", r.StoppedBy, len([]rune(r.StopReason)))
	}
}
