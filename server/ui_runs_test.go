package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
)

// rowOf is the runs-table row of run id on a batch page.
func rowOf(t *testing.T, page, id string) string {
	t.Helper()
	i := strings.Index(page, `<tr id="run-`+id+`"`)
	if i < 0 {
		t.Fatalf("no row for run %s:\n%s", id, page)
	}
	row := page[i:]
	return row[:strings.Index(row, "</tr>")]
}

// ended plays the agent: run q exits with code (signal when code < 0).
func (h *harness) ended(agentID, agentTok string, q api.Queued, code int, signal string) {
	h.t.Helper()
	e := api.ExitReport{Signal: signal}
	if signal == "" {
		e.ExitCode = &code
	}
	h.expect(200, "POST", "/api/agents/"+agentID+"/runs/"+q.RunID+"/exit", agentTok, e)
}

// TestUIMarksFailuresAndNamesWhoStopped: each way a run can end has its
// own words, failures are marked as such (class and words), and the page
// names who asked for a run and who stopped it, with the reason typed
// into the Stop form.
func TestUIMarksFailuresAndNamesWhoStopped(t *testing.T) {
	t.Parallel()
	h, buf, alice, bob, id, agentID, agentTok := sharedWithBob(t)

	ok := h.started(alice, id, agentID, agentTok, 101)
	h.ended(agentID, agentTok, ok, 0, "")
	exit3 := h.started(alice, id, agentID, agentTok, 102)
	h.ended(agentID, agentTok, exit3, 3, "")
	killed := h.started(alice, id, agentID, agentTok, 103)
	h.ended(agentID, agentTok, killed, 0, "SIGKILL")
	var noStart api.Queued
	h.expect(202, "POST", "/api/batches/"+id+"/rerun", alice, nil).json(t, &noStart)
	h.jobs(agentID, agentTok)
	h.expect(200, "POST", "/api/agents/"+agentID+"/jobs/"+noStart.CmdID+"/ack", agentTok, api.AckRequest{Error: "exec: python: not found"})
	stopped := h.started(bob, id, agentID, agentTok, 104)

	// Bob stops his rerun of alice's batch through the form, with a reason.
	c := h.login(bob)
	page := h.page(c, "/ui/batches/"+id)
	mustContain(t, rowOf(t, page, stopped.RunID), `name="reason"`, `maxlength="500"`)
	form := url.Values{"csrf": {csrfOf(t, page)}, "reason": {"needed the GPU"}}
	r := h.ui(uiReq{method: "POST", path: "/ui/runs/" + stopped.RunID + "/stop", cookie: c, form: form})
	if r.code != http.StatusSeeOther {
		t.Fatalf("stop form: %d %s", r.code, r.body)
	}
	mustContain(t, rowOf(t, h.page(c, "/ui/batches/"+id), stopped.RunID), "stop asked by bob — needed the GPU", ">stopping<")
	cmds := h.jobs(agentID, agentTok)
	h.expect(200, "POST", "/api/agents/"+agentID+"/jobs/"+cmds[0].ID+"/ack", agentTok, api.AckRequest{Outcome: api.StopTerminated})
	h.ended(agentID, agentTok, stopped, 0, "SIGTERM")

	page = h.page(h.login(alice), "/ui/batches/"+id)
	for _, want := range []struct {
		q       api.Queued
		verdict string
		words   []string
	}{
		{ok, "ok", []string{">exited 0<", "requested by alice"}},
		{exit3, "failed", []string{">failed: exit 3<"}},
		{killed, "failed", []string{">failed: killed by SIGKILL<"}},
		{noStart, "failed", []string{">failed to start<", "exec: python: not found"}},
		{stopped, "stopped", []string{">stopped<", "requested by bob", "stopped by bob — needed the GPU"}},
	} {
		row := rowOf(t, page, want.q.RunID)
		mustContain(t, row, append(want.words, `class="verdict-`+want.verdict+`"`, `verdict-`+want.verdict+`" title=`)...)
	}
	if n := strings.Count(page, `<tr id="run-`); n != 5 {
		t.Fatalf("%d rows, want 5", n)
	}
	wantUser(t, accessLines(t, buf.String()), "POST /ui/runs/{run_id}/stop", http.StatusSeeOther, "bob", "")
}

// TestUIStopReasonRefused: a reason the API would refuse is refused in the
// form too, as a flash naming the field, and nothing is queued.
func TestUIStopReasonRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	id := h.batch(alice, "mnist", "gpu-01")
	agentID, agentTok := h.agent(alice, "gpu-01", "", true)
	q := h.started(alice, id, agentID, agentTok, 4242)
	c := h.login(alice)
	csrf := csrfOf(t, h.page(c, "/ui/batches/"+id))
	before := h.snapshot()
	for _, reason := range []string{strings.Repeat("x", api.MaxStopReason+1), "two\nlines"} {
		form := url.Values{"csrf": {csrf}, "reason": {reason}}
		r := h.ui(uiReq{method: "POST", path: "/ui/runs/" + q.RunID + "/stop", cookie: c, form: form})
		if r.code != http.StatusSeeOther {
			t.Fatalf("stop with a bad reason: %d %s", r.code, r.body)
		}
		mustContain(t, h.page(c, r.location), "flash-error", "reason")
		h.unchanged(before, "a stop form with a bad reason")
	}
}
