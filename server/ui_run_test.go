package server_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/argus-exec/argus/server/api"
)

// TestUIRunPage: a run's page names who asked for it and who stopped it
// and why, says how it ended in the batch page's words and colours, links
// back to its batch, and never reloads itself (no meta refresh: run.js
// keeps it current). Text from users is escaped.
func TestUIRunPage(t *testing.T) {
	t.Parallel()
	h, _, alice, bob, id, agentID, agentTok := sharedWithBob(t)
	q := h.started(bob, id, agentID, agentTok, 4242)
	c := h.login(alice)

	page := h.page(c, "/ui/runs/"+q.RunID)
	mustContain(t, page, `id="requested-by">bob<`, `id="pid">4242<`, `class="status status-running verdict-active"`,
		`<script src="/ui/static/run.js" defer></script>`, `data-src="/ui/runs/`+q.RunID+`/log"`,
		`href="/ui/batches/`+id+`"`, `data-following="true"`, `id="stop"`, `name="back" value="run"`, `gpu-01`)
	if strings.Contains(page, `http-equiv="refresh"`) {
		t.Fatal("the run page reloads itself: the reader would lose their place in the output")
	}

	// Alice stops it from the run page with a reason holding markup, and
	// lands back on the run page.
	reason := `<script>alert("x")</script> GPU`
	form := url.Values{"csrf": {csrfOf(t, page)}, "reason": {reason}, "back": {"run"}}
	r := h.ui(uiReq{method: "POST", path: "/ui/runs/" + q.RunID + "/stop", cookie: c, form: form})
	if r.code != http.StatusSeeOther || !strings.HasPrefix(r.location, "/ui/runs/"+q.RunID+"?") {
		t.Fatalf("stop from the run page: %d %s, want 303 back to the run page", r.code, r.location)
	}
	mustContain(t, h.page(c, r.location), "stop queued for "+q.RunID, `status-stopping`)
	cmds := h.jobs(agentID, agentTok)
	h.expect(200, "POST", "/api/agents/"+agentID+"/jobs/"+cmds[0].ID+"/ack", agentTok, api.AckRequest{Outcome: api.StopTerminated})
	h.ended(agentID, agentTok, q, 0, "SIGTERM")

	page = h.page(c, "/ui/runs/"+q.RunID)
	mustContain(t, page, `id="stopped-by">alice<`, `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; GPU`,
		`class="status status-stopped verdict-stopped"`, `>stopped</span>`,
		`id="exit-reason">killed by signal SIGTERM<`, `data-following="false"`)
	if strings.Contains(page, `<script>alert`) || strings.Contains(page, `id="stop"`) {
		t.Fatalf("the stop reason is not escaped, or an ended run offers Stop:\n%s", page)
	}

	// A failure is worded and coloured as one, and the batch page links
	// each run to its page.
	failed := h.started(alice, id, agentID, agentTok, 4243)
	h.ended(agentID, agentTok, failed, 3, "")
	mustContain(t, h.page(c, "/ui/runs/"+failed.RunID), `verdict-failed`, `>failed: exit 3</span>`, `id="exit-reason">exit code 3<`)
	batch := h.page(c, "/ui/batches/"+id)
	mustContain(t, rowOf(t, batch, failed.RunID), `<a href="/ui/runs/`+failed.RunID+`"`)

	// A run not started yet: no elapsed time, and Cancel rather than Stop.
	var queued api.Queued
	h.expect(202, "POST", "/api/batches/"+id+"/rerun", alice, nil).json(t, &queued)
	mustContain(t, h.page(c, "/ui/runs/"+queued.RunID), `status-queued`, `id="elapsed">—<`, `>Cancel</button>`, `id="exit-reason">—<`)
}

// TestUIRunLog: the run page's log route serves the API's bytes and
// headers on the session, held reads included, and output that looks
// like markup stays plain text that browsers may not sniff.
func TestUIRunLog(t *testing.T) {
	t.Parallel()
	h, _, alice, _, id, agentID, agentTok := sharedWithBob(t)
	q := h.started(alice, id, agentID, agentTok, 7)
	c := h.login(alice)
	out := "epoch 1 <script>alert(1)</script>\n\xff"
	h.expect200(h.appendLog(agentID, agentTok, q.RunID, 0, []byte(out), ""))

	n := strconv.Itoa(len(out))
	path := "/ui/runs/" + q.RunID + "/log"
	r := h.ui(uiReq{method: "GET", path: path, cookie: c})
	if r.code != 200 || r.body != out || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") ||
		r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get(api.HeaderLogOffset) != "0" ||
		r.header.Get(api.HeaderLogNext) != n || r.header.Get(api.HeaderLogComplete) != "false" {
		t.Fatalf("UI log read: %d %q %v", r.code, r.body, r.header)
	}

	held := make(chan uiResp, 1)
	go func() { held <- h.ui(uiReq{method: "GET", path: path + "?offset=" + n + "&wait=20s", cookie: c}) }()
	h.expect200(h.appendLog(agentID, agentTok, q.RunID, int64(len(out)), []byte("epoch 2\n"), ""))
	if r := <-held; r.body != "epoch 2\n" || r.header.Get(api.HeaderLogOffset) != n || r.header.Get(api.HeaderLogNext) != strconv.Itoa(len(out)+8) {
		t.Fatalf("held UI log read: %d %q %v", r.code, r.body, r.header)
	}
	h.ended(agentID, agentTok, q, 0, "")
	if r := h.ui(uiReq{method: "GET", path: path + "?offset=" + strconv.Itoa(len(out)+8) + "&wait=20s", cookie: c}); r.body != "" || r.header.Get(api.HeaderLogComplete) != "true" {
		t.Fatalf("UI log read after the end: %d %q %v", r.code, r.body, r.header)
	}
	if r := h.ui(uiReq{method: "GET", path: path + "?offset=-1", cookie: c}); r.code != http.StatusBadRequest {
		t.Fatalf("negative offset: %d", r.code)
	}
}

// TestUIRunPageRefusals: without a session both routes send the browser
// to sign in; a user the batch is not shared with gets 403 and none of
// the output; an unknown run is 404.
func TestUIRunPageRefusals(t *testing.T) {
	t.Parallel()
	h, _, alice, _, id, agentID, agentTok := sharedWithBob(t)
	q := h.started(alice, id, agentID, agentTok, 7)
	h.expect200(h.appendLog(agentID, agentTok, q.RunID, 0, []byte("secret weights path\n"), ""))
	carol := h.login(h.user("carol"))

	for _, path := range []string{"/ui/runs/" + q.RunID, "/ui/runs/" + q.RunID + "/log"} {
		if r := h.ui(uiReq{method: "GET", path: path}); r.code != http.StatusSeeOther || r.location != "/login" {
			t.Fatalf("GET %s without a session: %d %s", path, r.code, r.location)
		}
		r := h.ui(uiReq{method: "GET", path: path, cookie: carol})
		if r.code != http.StatusForbidden || strings.Contains(r.body, "secret") || r.header.Get(api.HeaderLogNext) != "" {
			t.Fatalf("GET %s as a stranger: %d %v\n%s", path, r.code, r.header, r.body)
		}
		if !strings.Contains(r.header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Fatalf("GET %s: no CSP on the refusal", path)
		}
	}
	for _, path := range []string{"/ui/runs/run_nope", "/ui/runs/run_nope/log"} {
		if r := h.ui(uiReq{method: "GET", path: path, cookie: carol}); r.code != http.StatusNotFound {
			t.Fatalf("GET %s: %d, want 404", path, r.code)
		}
	}
	r := h.ui(uiReq{method: "GET", path: "/ui/static/run.js"})
	if r.code != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/javascript") || !strings.Contains(r.body, "TextDecoder") {
		t.Fatalf("run.js: %d %v", r.code, r.header)
	}
}
