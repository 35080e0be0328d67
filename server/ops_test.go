package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
)

// lockedBuffer lets the server's goroutines log while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, id, agentID, tok := h.aliceOnline()
	h.expect(202, "POST", "/api/batches/"+id+"/rerun", alice, nil)
	h.jobs(agentID, tok)

	r := h.expect(200, "GET", "/healthz", "", nil)
	if !strings.Contains(string(r.body), `"ok"`) {
		t.Fatalf("healthz = %s", r.body)
	}
	m := string(h.expect(200, "GET", "/metrics", "", nil).body)
	for _, want := range []string{
		"argus_agents_online 1",
		`argus_commands{state="delivered"} 1`,
		`argus_commands{state="queued"} 0`,
		`argus_command_dispatch_seconds_count{kind="rerun"} 1`,
		`argus_http_request_duration_seconds_count{code="204",method="POST",route="POST /api/agents/{agent_id}/heartbeat"} 1`,
		`argus_http_request_duration_seconds_count{code="202",method="POST",route="POST /api/batches/{id}/rerun"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(m, id) || strings.Contains(m, agentID) {
		t.Error("/metrics labels hold raw ids: routes must be labelled by pattern")
	}
}

func TestAccessLogNeverHoldsATokenOrSecret(t *testing.T) {
	t.Parallel()
	var buf lockedBuffer
	log := zerolog.New(&buf)
	h := newHarness(t, server.Config{Logger: &log})
	alice, id, agentID, tok := h.aliceOnline()
	var q api.Queued
	h.expect(202, "POST", "/api/batches/"+id+"/rerun", alice, nil).json(t, &q)
	h.jobs(agentID, tok)
	h.expect(401, "GET", "/api/batches", alice[:len(alice)-1]+flip(alice[len(alice)-1]), nil)
	h.expect(400, "POST", "/api/batches", alice, `{"project": "`+alice+`"`)
	// Tokens pasted where ids belong: the answer and the log mask them.
	for _, path := range []string{"/api/runs/" + alice, "/api/batches/x" + tok, "/api/runs/" + tok + "/stop"} {
		method := "GET"
		if strings.HasSuffix(path, "/stop") {
			method = "POST"
		}
		r := h.do(method, path, alice, nil)
		if r.code != 404 && r.code != 403 || strings.Contains(string(r.body), alice[8:]) || strings.Contains(string(r.body), tok[8:]) {
			t.Fatalf("%s %s with a token as id = %d %s", method, path[:20], r.code, r.body)
		}
	}

	out := buf.String()
	if !strings.Contains(out, "[redacted]") {
		t.Fatalf("access log shows no masked path:\n%s", out)
	}
	out = strings.NewReplacer("em_live_[redacted]", "", "ag_live_[redacted]", "").Replace(out)
	if !strings.Contains(out, `"route":"POST /api/batches/{id}/rerun"`) || !strings.Contains(out, `"status":202`) {
		t.Fatalf("access log lacks the rerun line:\n%s", out)
	}
	for _, secret := range []string{"em_live_", "ag_live_", alice[8:20], tok[8:20]} {
		if strings.Contains(out, secret) {
			t.Fatalf("access log holds %q:\n%s", secret, out)
		}
	}
}

// Method strings are the client's to choose: unknown ones are counted and
// logged as "other", so requests without a token cannot grow /metrics.
func TestNoHSTSOverPlainHTTP(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	if v := h.expect(200, "GET", "/healthz", "", nil).header.Get("Strict-Transport-Security"); v != "" {
		t.Fatalf("plain HTTP answer carries Strict-Transport-Security %q", v)
	}
}

func TestUnknownMethodsDoNotGrowMetrics(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	h.do("GET", "/healthz", "", nil)
	before := len(h.expect(200, "GET", "/metrics", "", nil).body)
	for i := 0; i < 50; i++ {
		method := fmt.Sprintf("X%d%s", i, strings.Repeat("Y", 500))
		if r := h.do(method, "/api/batches", "", nil); r.code != http.StatusMethodNotAllowed {
			t.Fatalf("%.10s… /api/batches = %d, want 405", method, r.code)
		}
	}
	m := string(h.expect(200, "GET", "/metrics", "", nil).body)
	if strings.Contains(m, "YYYY") || !strings.Contains(m, `method="other"`) {
		t.Fatalf("/metrics names client-chosen methods or lacks method=\"other\":\n%.2000s", m)
	}
	if grown := len(m) - before; grown > 8<<10 {
		t.Fatalf("/metrics grew by %d bytes after 50 requests with made-up methods", grown)
	}
}

func TestMethodNotAllowedAndUnknownRoutesAnswerJSON(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	h.expect(405, "PUT", "/api/runs/run_x/stop", alice, nil)
	h.expect(404, "GET", "/api/nope", alice, nil)
	h.expect(404, "GET", "/nope", "", nil)
}
