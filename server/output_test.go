package server_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
)

// A run's output is any bytes: an agent's exit report carries them in
// output_tail_b64, and the API serves them as text (NUL escaped as JSON
// does, each invalid byte U+FFFD) plus output_tail_b64 with the bytes
// exactly, on the run, in lists and on the batch page.
func TestOutputIsBytes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, id, agentID, tok := h.aliceOnline()
	out := []byte("a\x00b\xffc\n")
	code := 0

	q := h.started(alice, id, agentID, tok, 3)
	h.expect(200, "POST", "/api/agents/"+agentID+"/runs/"+q.RunID+"/exit", tok,
		api.ExitReport{ExitCode: &code, OutputTail: api.TextForOldServers(out), OutputTailB64: out})
	raw := h.expect(200, "GET", "/api/runs/"+q.RunID, alice, nil).body
	for _, want := range []string{`"output_tail":"a\u0000b` + "\uFFFD" + `c\n"`, `"output_tail_b64":"YQBi/2MK"`, `"status":"exited"`} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("run %s lacks %s", raw, want)
		}
	}
	if r := h.run(q.RunID, alice); !bytes.Equal(r.Output(), out) {
		t.Errorf("run's output %q, want %q", r.Output(), out)
	}
	var list api.RunList
	h.expect(200, "GET", "/api/runs?batch="+id, alice, nil).json(t, &list)
	if len(list.Runs) != 1 || !bytes.Equal(list.Runs[0].Output(), out) {
		t.Errorf("listed runs %+v, want one with output %q", list.Runs, out)
	}

	// An older agent's text, NUL included, is kept as it came; text that
	// is the bytes carries no second copy.
	q = h.started(alice, id, agentID, tok, 4)
	h.expect(200, "POST", "/api/agents/"+agentID+"/runs/"+q.RunID+"/exit", tok,
		`{"exit_code":0,"output_tail":"x\u0000y é\n"}`)
	raw = h.expect(200, "GET", "/api/runs/"+q.RunID, alice, nil).body
	if !bytes.Contains(raw, []byte(`"output_tail":"x\u0000y é\n"`)) || bytes.Contains(raw, []byte("output_tail_b64")) {
		t.Errorf("run from an older agent's report: %s", raw)
	}

	page := h.page(h.login(alice), "/ui/batches/"+id)
	if !strings.Contains(page, "a\uFFFDb\uFFFDc") {
		t.Errorf("batch page does not show the output as text:\n%s", page)
	}
}

// An ack's error reaches runs.error, text that PostgreSQL refuses with a
// NUL in it, and an ack the store refuses holds back its run's exit report
// too (the agent sends the exit after the ack): NUL is dropped, the rest
// kept.
func TestAckErrorDropsNUL(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, id, agentID, tok := h.aliceOnline()
	var q api.Queued
	h.expect(202, "POST", "/api/batches/"+id+"/rerun", alice, nil).json(t, &q)
	h.jobs(agentID, tok)
	h.expect(200, "POST", "/api/agents/"+agentID+"/jobs/"+q.CmdID+"/ack", tok, `{"error":"exec: a\u0000b: not found"}`)
	if r := h.run(q.RunID, alice); r.Status != api.RunFailed || r.Error != "exec: ab: not found" {
		t.Errorf("run after an ack error with NUL: status %s, error %q", r.Status, r.Error)
	}
}
