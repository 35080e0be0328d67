package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
)

// doCT sends body with the Content-Type given ("" sends none).
func (h *harness) doCT(method, path, tok, contentType, body string) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.url+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{code: resp.StatusCode, body: data, header: resp.Header}
}

// A body must say it is JSON: anything else, no Content-Type included, is
// 415 with a JSON error, on user and agent routes alike, and stores
// nothing. JSON with parameters is fine, and so is a body-less request
// without one.
func TestBodiesMustBeDeclaredJSON(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	id := h.batch(alice, "mnist", "gpu-01")
	agentID, agentTok := h.agent(alice, "gpu-01", "", true)
	var q api.Queued
	h.expect(202, "POST", "/api/batches/"+id+"/rerun", alice, nil).json(t, &q)
	h.jobs(agentID, agentTok)
	batch := `{"project":"mnist","env_snapshot":{"command":["true"],"cwd":"/","host":"gpu-01"}}`
	register := `{"hostname":"gpu-02"}`
	ack := `{"pid":7}`
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "application/jsonx", "application/json-patch+json"} {
		before := h.snapshot()
		for _, c := range []struct{ path, tok, body string }{
			{"/api/batches", alice, batch},
			{"/api/agents/register", alice, register},
			{"/api/agents/" + agentID + "/jobs/" + q.CmdID + "/ack", agentTok, ack},
			{"/api/batches/" + id + "/rerun", alice, `{}`},
		} {
			r := h.doCT("POST", c.path, c.tok, ct, c.body)
			var e api.Error
			if r.code != http.StatusUnsupportedMediaType {
				t.Fatalf("POST %s with Content-Type %q: %d %s, want 415", c.path, ct, r.code, r.body)
			}
			if r.json(t, &e); !strings.Contains(e.Error, "application/json") {
				t.Errorf("415 error %q does not say what to send", e.Error)
			}
		}
		h.unchanged(before, "bodies sent as "+ct)
	}
	for _, ct := range []string{"application/json; charset=utf-8", "Application/JSON"} {
		if r := h.doCT("POST", "/api/batches", alice, ct, batch); r.code != 201 {
			t.Errorf("Content-Type %q: %d %s, want 201", ct, r.code, r.body)
		}
	}
	// No body, no Content-Type needed: an optional body left out.
	if r := h.doCT("POST", "/api/batches/"+id+"/rerun", alice, "", ""); r.code != 202 {
		t.Errorf("a rerun without body or Content-Type: %d %s, want 202", r.code, r.body)
	}
}

// encoding/json matches keys case-insensitively and lets the last of two
// equal keys win, so a check could read one value and the store another.
// Every body refuses both, user and agent bodies alike; agent bodies still
// ignore keys they do not know.
func TestAmbiguousKeysAreRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	h.user("bob")
	id := h.batch(alice, "mnist", "gpu-01")
	agentID, agentTok := h.agent(alice, "gpu-01", "", true)
	var q api.Queued
	h.expect(202, "POST", "/api/batches/"+id+"/rerun", alice, nil).json(t, &q)
	h.jobs(agentID, agentTok)
	ackPath := "/api/agents/" + agentID + "/jobs/" + q.CmdID + "/ack"
	snap := `"env_snapshot":{"command":["true"],"cwd":"/","host":"gpu-01"}`
	cases := []struct {
		name, path, tok, body, want string
	}{
		{"duplicate project", "/api/batches", alice, `{"project":"mnist","project":"other",` + snap + `}`, `key "project" appears twice in the body`},
		{"case-variant project", "/api/batches", alice, `{"PROJECT":"other",` + snap + `}`, `key "PROJECT" in the body: keys are case-sensitive; the field is "project"`},
		{"duplicate nested cwd", "/api/batches", alice, `{"project":"mnist","env_snapshot":{"command":["true"],"cwd":"/","cwd":"/x","host":"gpu-01"}}`, `key "cwd" appears twice in env_snapshot`},
		{"case-variant nested host", "/api/batches", alice, `{"project":"mnist","env_snapshot":{"command":["true"],"cwd":"/","Host":"gpu-01"}}`, `key "Host" in env_snapshot`},
		{"duplicate env name", "/api/batches", alice, `{"project":"mnist","env_snapshot":{"command":["true"],"cwd":"/","host":"gpu-01","env":{"A":"1","A":"2"}}}`, `key "A" appears twice in env_snapshot.env`},
		{"unknown user key", "/api/batches", alice, `{"project":"mnist","colour":"red",` + snap + `}`, `unknown key "colour" in the body`},
		{"too deep", "/api/agents/register", alice, `{"hostname":"a","x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, "nests deeper than 16 levels"},
		{"duplicate share user", "/api/projects/mnist/recipients", alice, `{"user":"nobody","user":"bob"}`, `key "user" appears twice`},
		{"case-variant share user", "/api/projects/mnist/recipients", alice, `{"User":"bob"}`, `key "User"`},
		{"duplicate rerun agent", "/api/batches/" + id + "/rerun", alice, `{"agent_id":"x","agent_id":"` + agentID + `"}`, `key "agent_id" appears twice`},
		{"case-variant grace", "/api/runs/" + q.RunID + "/stop", alice, `{"Grace_Period":"1s"}`, `key "Grace_Period"`},
		{"duplicate hostname", "/api/agents/register", alice, `{"hostname":"a","hostname":"b"}`, `key "hostname" appears twice`},
		{"case-variant hostname", "/api/agents/register", alice, `{"HostName":"a"}`, `key "HostName"`},
		{"duplicate property", "/api/agents/register", alice, `{"hostname":"a","properties":{"rack":"1","rack":"2"}}`, `key "rack" appears twice in properties`},
		{"duplicate pid", ackPath, agentTok, `{"pid":7,"pid":8}`, `key "pid" appears twice`},
		{"case-variant pid", ackPath, agentTok, `{"PID":7}`, `key "PID"`},
		{"duplicate exit code", "/api/agents/" + agentID + "/runs/" + q.RunID + "/exit", agentTok, `{"exit_code":0,"exit_code":1}`, `key "exit_code" appears twice`},
	}
	for _, c := range cases {
		before := h.snapshot()
		if msg := errorOf(t, h.expect(400, "POST", c.path, c.tok, c.body)); !strings.Contains(msg, c.want) {
			t.Errorf("%s: error %q, want it to say %q", c.name, msg, c.want)
		}
		h.unchanged(before, c.name)
	}
	// Unknown keys in agent bodies are still ignored, nested ones too.
	h.expect(201, "POST", "/api/agents/register", alice, `{"hostname":"gpu-02","gpus":[{"model":"a100"}],"future":{"x":1}}`)
	h.expect(200, "POST", ackPath, agentTok, `{"pid":7,"rss_kib":1024}`)
}

// Agent bodies are bounded too. Registration fields over a limit are
// refused; so are a PID or an exit code no process can have. What a real
// agent sends in full is never refused: a long ack error is cut, and a
// Windows exit code (unsigned 32-bit) is taken.
func TestAgentFieldLimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	id := h.batch(alice, "mnist", "gpu-01")
	agentID, agentTok := h.agent(alice, "gpu-01", "", true)
	long := func(n int) string { return strings.Repeat("a", n) }
	props := map[string]string{}
	for i := range api.MaxProperties + 1 {
		props[long(i+1)] = "1"
	}
	for _, c := range []struct {
		name string
		req  api.RegisterRequest
		want string
	}{
		{"hostname", api.RegisterRequest{Hostname: long(api.MaxHostname + 1)}, "hostname is longer than 255 bytes"},
		{"hostname control", api.RegisterRequest{Hostname: "gpu\r\n01"}, "hostname holds a control character"},
		{"os", api.RegisterRequest{Hostname: "h", OS: long(api.MaxOS + 1)}, "os is longer than 64 bytes"},
		{"arch", api.RegisterRequest{Hostname: "h", Arch: long(api.MaxArch + 1)}, "arch is longer than 64 bytes"},
		{"version", api.RegisterRequest{Hostname: "h", Version: "1\x1b[31m"}, "version holds a control character"},
		{"agent_id", api.RegisterRequest{Hostname: "h", AgentID: long(api.MaxID + 1)}, "agent_id is longer than 64 bytes"},
		{"properties", api.RegisterRequest{Hostname: "h", Properties: props}, "properties has more than 64 entries"},
		{"property name", api.RegisterRequest{Hostname: "h", Properties: map[string]string{"a=b": "1"}}, `name "a=b" in properties`},
		{"property value", api.RegisterRequest{Hostname: "h", Properties: map[string]string{"a": long(api.MaxPropertyValue + 1)}}, "properties[a] is longer than 4096 bytes"},
	} {
		before := h.snapshot()
		if msg := errorOf(t, h.expect(400, "POST", "/api/agents/register", alice, c.req)); !strings.Contains(msg, c.want) {
			t.Errorf("%s: error %q, want it to say %q", c.name, msg, c.want)
		}
		h.unchanged(before, "registering with an over-long "+c.name)
	}

	var q api.Queued
	h.expect(202, "POST", "/api/batches/"+id+"/rerun", alice, nil).json(t, &q)
	h.jobs(agentID, agentTok)
	ackPath := "/api/agents/" + agentID + "/jobs/" + q.CmdID + "/ack"
	exitPath := "/api/agents/" + agentID + "/runs/" + q.RunID + "/exit"
	before := h.snapshot()
	for _, body := range []string{`{"pid":2147483648}`, `{"pid":-1}`, `{"pid":1,"outcome":"exploded"}`} {
		if msg := errorOf(t, h.expect(400, "POST", ackPath, agentTok, body)); !strings.Contains(msg, "pid") && !strings.Contains(msg, "outcome") {
			t.Errorf("ack %s: error %q does not name the field", body, msg)
		}
	}
	h.unchanged(before, "acks out of range")
	h.expect(200, "POST", ackPath, agentTok, `{"pid":2147483647}`)

	before = h.snapshot()
	for _, body := range []string{`{"exit_code":4294967296}`, `{"exit_code":-2147483649}`, `{"signal":"` + long(api.MaxSignal+1) + `"}`, `{"signal":"SIG\nTERM"}`} {
		if msg := errorOf(t, h.expect(400, "POST", exitPath, agentTok, body)); !strings.Contains(msg, "exit_code") && !strings.Contains(msg, "signal") {
			t.Errorf("exit %s: error %q does not name the field", body, msg)
		}
	}
	h.unchanged(before, "exit reports out of range")
	var run api.Run
	h.expect(200, "POST", exitPath, agentTok, `{"exit_code":3221225477}`).json(t, &run) // 0xC0000005, a Windows access violation
	if run.ExitCode == nil || *run.ExitCode != 3221225477 {
		t.Errorf("Windows exit code stored as %v", run.ExitCode)
	}

	// A failed start's error is cut, not refused, so the run still settles.
	h.expect(202, "POST", "/api/batches/"+id+"/rerun", alice, nil).json(t, &q)
	h.jobs(agentID, agentTok)
	h.expect(200, "POST", "/api/agents/"+agentID+"/jobs/"+q.CmdID+"/ack", agentTok,
		api.AckRequest{Error: "fork/exec " + strings.Repeat("é", api.MaxAckError)})
	run = h.run(q.RunID, alice)
	if run.Status != api.RunFailed || len(run.Error) > api.MaxAckError || !strings.HasPrefix(run.Error, "fork/exec é") || !strings.HasSuffix(run.Error, "é…") {
		t.Errorf("run after a long ack error: status %s, error of %d bytes ending %q", run.Status, len(run.Error), run.Error[max(0, len(run.Error)-8):])
	}
}
