package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
)

// appendLog posts raw bytes as its agent does; contentType "" means
// application/octet-stream.
func (h *harness) appendLog(agentID, agentTok, runID string, offset int64, data []byte, contentType string) response {
	h.t.Helper()
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	path := fmt.Sprintf("/api/agents/%s/runs/%s/log?offset=%d", agentID, runID, offset)
	req, err := http.NewRequest("POST", h.url+path, bytes.NewReader(data))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+agentTok)
	req.Header.Set("Content-Type", contentType)
	return h.send(req)
}

// logAt reads a run's log as a user does.
type logAnswer struct {
	data         string
	offset, next int64
	complete     bool
	code         int
	contentType  string
}

func (h *harness) readLog(runID, userTok, query string) logAnswer {
	h.t.Helper()
	r := h.do("GET", "/api/runs/"+runID+"/log"+query, userTok, nil)
	out := logAnswer{data: string(r.body), code: r.code, contentType: r.header.Get("Content-Type")}
	if r.code != 200 {
		return out
	}
	var err error
	if out.offset, err = strconv.ParseInt(r.header.Get(api.HeaderLogOffset), 10, 64); err != nil {
		h.t.Fatalf("%s header: %v", api.HeaderLogOffset, err)
	}
	if out.next, err = strconv.ParseInt(r.header.Get(api.HeaderLogNext), 10, 64); err != nil {
		h.t.Fatalf("%s header: %v", api.HeaderLogNext, err)
	}
	out.complete = r.header.Get(api.HeaderLogComplete) == "true"
	return out
}

// TestRunLogLive: output appended while a run runs is readable at once,
// a held read wakes on the next append, a resend adds nothing twice, and
// the log is complete once the run has ended and all of log_size is in.
func TestRunLogLive(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, id, agentID, tok := h.aliceOnline()
	q := h.started(alice, id, agentID, tok, 7)

	if l := h.readLog(q.RunID, alice, ""); l.data != "" || l.next != 0 || l.complete {
		t.Fatalf("log before any output = %+v", l)
	}
	var next api.LogAppended
	h.expect200(h.appendLog(agentID, tok, q.RunID, 0, []byte("epoch 1\n\x00\xff"), "")).json(t, &next)
	if next.Next != 10 {
		t.Fatalf("next = %d, want 10", next.Next)
	}
	l := h.readLog(q.RunID, alice, "")
	if l.data != "epoch 1\n\x00\xff" || l.offset != 0 || l.next != 10 || l.complete || !strings.HasPrefix(l.contentType, "text/plain") {
		t.Fatalf("log while running = %+v", l)
	}

	held := make(chan logAnswer, 1)
	go func() { held <- h.readLog(q.RunID, alice, "?offset=10&wait=20s") }()
	h.expect200(h.appendLog(agentID, tok, q.RunID, 0, []byte("epoch 1\n\x00\xffepoch 2\n"), "")).json(t, &next)
	if next.Next != 18 {
		t.Fatalf("next after a resend = %d, want 18", next.Next)
	}
	if got := <-held; got.data != "epoch 2\n" || got.offset != 10 || got.next != 18 {
		t.Fatalf("held read = %+v, want the new line", got)
	}

	size := int64(25)
	h.expect(200, "POST", "/api/agents/"+agentID+"/runs/"+q.RunID+"/exit", tok, api.ExitReport{ExitCode: new(int), LogSize: &size})
	if l := h.readLog(q.RunID, alice, "?offset=18&wait=0s"); l.complete || l.data != "" {
		t.Fatalf("log of an ended run missing 7 bytes = %+v, want incomplete", l)
	}
	if l := h.readLog(q.RunID, alice, "?offset=25&wait=0s"); l.complete {
		t.Fatalf("a read past what was received, at the log's final size = %+v, want incomplete", l)
	}
	h.expect200(h.appendLog(agentID, tok, q.RunID, 18, []byte("done.\n\n"), ""))
	if l := h.readLog(q.RunID, alice, "?offset=18&wait=20s"); !l.complete || l.data != "done.\n\n" || l.next != 25 {
		t.Fatalf("log once all of it is in = %+v, want complete", l)
	}
	if l := h.readLog(q.RunID, alice, "?offset=25&wait=20s"); !l.complete || l.data != "" || l.next != 25 {
		t.Fatalf("read at the end of a complete log = %+v, want complete at once", l)
	}
}

func (h *harness) expect200(r response) response {
	h.t.Helper()
	if r.code != 200 {
		h.t.Fatalf("got %d %s, want 200", r.code, r.body)
	}
	return r
}

// TestRunLogRefusals: bad offsets, bodies and callers get their 4xx and
// change nothing.
func TestRunLogRefusals(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, id, agentID, tok := h.aliceOnline()
	q := h.started(alice, id, agentID, tok, 7)
	otherID, otherTok := h.agent(alice, "gpu-02", "", true)
	mallory := h.user("mallory")
	h.expect200(h.appendLog(agentID, tok, q.RunID, 0, []byte("abc"), ""))
	before := h.snapshot()

	for _, c := range []struct {
		name string
		resp response
		code int
	}{
		{"a gap", h.appendLog(agentID, tok, q.RunID, 5, []byte("x"), ""), 409},
		{"JSON", h.appendLog(agentID, tok, q.RunID, 3, []byte(`"x"`), "application/json"), 415},
		{"over 1 MiB", h.appendLog(agentID, tok, q.RunID, 3, make([]byte, api.MaxLogChunk+1), ""), 413},
		{"another agent's run", h.appendLog(otherID, otherTok, q.RunID, 3, []byte("x"), ""), 404},
		{"a negative offset", h.appendLog(agentID, tok, q.RunID, -1, []byte("x"), ""), 400},
		{"a user token", h.appendLog(agentID, alice, q.RunID, 3, []byte("x"), ""), 403},
		{"a read at offset -1", h.do("GET", "/api/runs/"+q.RunID+"/log?offset=-1", alice, nil), 400},
		{"a read at offset x", h.do("GET", "/api/runs/"+q.RunID+"/log?offset=x", alice, nil), 400},
		{"a bad wait", h.do("GET", "/api/runs/"+q.RunID+"/log?wait=soon", alice, nil), 400},
		{"a stranger's read", h.do("GET", "/api/runs/"+q.RunID+"/log", mallory, nil), 403},
		{"no such run", h.do("GET", "/api/runs/run_nope/log", alice, nil), 404},
	} {
		if c.resp.code != c.code {
			t.Errorf("%s: %d %s, want %d", c.name, c.resp.code, c.resp.body, c.code)
		}
	}
	var gap api.LogGap
	h.appendLog(agentID, tok, q.RunID, 5, []byte("x"), "").json(t, &gap)
	if gap.Next != 3 || gap.Error == "" {
		t.Errorf("gap answer %+v, want next 3", gap)
	}
	h.unchanged(before, "refused log requests")
}

// TestRunLogCap: past --log-max the server keeps the first MiB and the
// newest output; a read from inside the dropped part starts after it.
func TestRunLogCap(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{LogMax: api.MinLogMax})
	alice, id, agentID, tok := h.aliceOnline()
	q := h.started(alice, id, agentID, tok, 7)
	var sent []byte
	for i := 0; len(sent) < 4*api.MinLogMax; i++ {
		chunk := bytes.Repeat([]byte(fmt.Sprintf("line %06d\n", i)), api.MaxLogChunk/12)
		h.expect200(h.appendLog(agentID, tok, q.RunID, int64(len(sent)), chunk, ""))
		sent = append(sent, chunk...)
	}
	head := h.readLog(q.RunID, alice, "")
	if head.offset != 0 || head.data != string(sent[:api.LogHead]) {
		t.Fatalf("head: offset %d, %d bytes; want the first %d", head.offset, len(head.data), api.LogHead)
	}
	rest := h.readLog(q.RunID, alice, "?offset="+strconv.FormatInt(head.next, 10))
	if rest.offset <= head.next || rest.data != string(sent[rest.offset:rest.next]) {
		t.Fatalf("after the head: offset %d (asked %d), want a jump to kept bytes", rest.offset, head.next)
	}
	for off := rest.next; off < int64(len(sent)); {
		l := h.readLog(q.RunID, alice, "?offset="+strconv.FormatInt(off, 10))
		if l.offset != off || len(l.data) == 0 {
			t.Fatalf("newest part has a hole at %d: %+v", off, l.offset)
		}
		off = l.next
	}
}

// TestRunLogOfAnOlderAgent: a run whose agent streamed nothing has its
// output tail as its log, complete.
func TestRunLogOfAnOlderAgent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, id, agentID, tok := h.aliceOnline()
	q := h.started(alice, id, agentID, tok, 7)
	h.expect(200, "POST", "/api/agents/"+agentID+"/runs/"+q.RunID+"/exit", tok, `{"exit_code":0,"output_tail":"old agent\n"}`)
	if l := h.readLog(q.RunID, alice, ""); l.data != "old agent\n" || !l.complete || l.next != 10 {
		t.Fatalf("log of an older agent's run = %+v", l)
	}
}
