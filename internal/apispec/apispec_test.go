package apispec

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeAnswer is what the fake server says to one path.
type fakeAnswer struct {
	code   int
	ctype  string
	body   string
	noJSON bool // leave out Cache-Control, which every JSON answer carries
}

const (
	runOK    = `{"id":"run_aaaaaaaaaaaaaaaaaaaa","batch_id":"bat_aaaaaaaaaaaaaaaaaaaa","agent_id":"agt_aaaaaaaaaaaaaaaaaaaa","status":"queued","exit_code":null,"rerun_cmd_id":"cmd_aaaaaaaaaaaaaaaaaaaa","created_at":"2025-01-02T03:04:05.123456789Z"}`
	runNoSts = `{"id":"run_aaaaaaaaaaaaaaaaaaaa","batch_id":"bat_aaaaaaaaaaaaaaaaaaaa","agent_id":"agt_aaaaaaaaaaaaaaaaaaaa","exit_code":null,"rerun_cmd_id":"cmd_aaaaaaaaaaaaaaaaaaaa","created_at":"2025-01-02T03:04:05Z"}`
)

// TestTransportCatchesDrift sends one request per case to a server that
// answers as the case says, and checks what the transport reports.
func TestTransportCatchesDrift(t *testing.T) {
	cases := []struct {
		name         string
		method, path string
		reqBody      string
		answer       fakeAnswer
		want         string // "" means no report; else a part of the report
	}{
		{"valid exchange", "GET", "/api/runs/run_aaaaaaaaaaaaaaaaaaaa", "", fakeAnswer{200, "application/json", runOK, false}, ""},
		{"valid error answer", "GET", "/api/runs/run_x", "", fakeAnswer{404, "application/json", `{"error":"no run run_x"}`, false}, ""},
		{"valid 204", "POST", "/api/agents/agt_x/heartbeat", "", fakeAnswer{204, "", "", true}, ""},
		{"valid request refused", "POST", "/api/batches", `{"nope":1}`, fakeAnswer{400, "application/json", `{"error":"unknown field"}`, false}, ""},
		{"server's own 404", "GET", "/api/nothing", "", fakeAnswer{404, "application/json", `{"error":"Not Found"}` + "\n", true}, ""},
		{"server's own 405", "DELETE", "/api/batches", "", fakeAnswer{405, "application/json", `{"error":"Method Not Allowed"}`, true}, ""},
		{"web UI page", "GET", "/ui/batches/bat_x", "", fakeAnswer{200, "text/html", "<html></html>", true}, ""},
		{"metrics", "GET", "/metrics", "", fakeAnswer{200, "text/plain; version=0.0.4; charset=utf-8", "up 1\n", true}, ""},

		{"undocumented status", "GET", "/api/runs", "", fakeAnswer{418, "application/json", `{"error":"teapot"}`, false}, "status is not supported"},
		{"missing required field", "GET", "/api/runs/run_aaaaaaaaaaaaaaaaaaaa", "", fakeAnswer{200, "application/json", runNoSts, false}, `"status"`},
		{"extra field", "GET", "/api/agents", "", fakeAnswer{200, "application/json", `{"agents":[],"extra":1}`, false}, "extra"},
		{"undocumented path", "GET", "/api/widgets", "", fakeAnswer{200, "application/json", `{}`, false}, "no operation"},
		{"undocumented method", "PUT", "/api/runs", "", fakeAnswer{200, "application/json", `{"runs":[]}`, false}, "no operation"},
		{"unknown path with another 404", "GET", "/api/widgets/1", "", fakeAnswer{404, "application/json", `{"error":"no widget 1"}`, false}, "no operation"},
		{"wrong enum value", "GET", "/api/runs", "", fakeAnswer{200, "application/json", `{"runs":[` + strings.Replace(runOK, "queued", "sleeping", 1) + `]}`, false}, "sleeping"},
		{"bad date-time", "GET", "/api/runs", "", fakeAnswer{200, "application/json", `{"runs":[` + strings.Replace(runOK, "2025-01-02T03:04:05.123456789Z", "yesterday", 1) + `]}`, false}, "created_at"},
		{"missing Cache-Control", "GET", "/api/runs", "", fakeAnswer{200, "application/json", `{"runs":[]}`, true}, "Cache-Control"},
		{"wrong content type", "GET", "/api/runs", "", fakeAnswer{200, "text/html", `<p>runs</p>`, false}, "text/html"},
		{"forbidden request accepted", "POST", "/api/batches", `{"nope":1}`, fakeAnswer{201, "application/json", `{"id":"bat_aaaaaaaaaaaaaaaaaaaa"}`, false}, "accepted a request"},
	}
	answers := map[string]fakeAnswer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the server must see the body the transport read
		a := answers[r.Method+" "+r.URL.Path]
		if a.ctype != "" {
			w.Header().Set("Content-Type", a.ctype)
		}
		if !a.noJSON {
			w.Header().Set("Cache-Control", "no-store")
		}
		w.WriteHeader(a.code)
		_, _ = io.WriteString(w, a.body)
	}))
	defer srv.Close()

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			answers[c.method+" "+c.path] = c.answer
			var mu sync.Mutex
			var reports []error
			hc := &http.Client{Transport: Transport(nil, func(err error) {
				mu.Lock()
				defer mu.Unlock()
				reports = append(reports, err)
			})}
			var body io.Reader
			if c.reqBody != "" {
				body = strings.NewReader(c.reqBody)
			}
			req, err := http.NewRequest(c.method, srv.URL+c.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer em_live_whatever")
			if body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(got) != c.answer.body {
				t.Fatalf("caller read %q (%v), want the server's %q", got, err, c.answer.body)
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case c.want == "" && len(reports) > 0:
				t.Fatalf("reported a valid exchange: %v", reports)
			case c.want != "" && len(reports) != 1:
				t.Fatalf("got %d reports %v, want one mentioning %q", len(reports), reports, c.want)
			case c.want != "":
				var m *Mismatch
				if !errors.As(reports[0], &m) || m.Method != c.method || !strings.HasPrefix(m.Path, c.path) || m.Status != c.answer.code {
					t.Fatalf("report %#v does not name %s %s → %d", reports[0], c.method, c.path, c.answer.code)
				}
				if !strings.Contains(reports[0].Error(), c.want) {
					t.Fatalf("report %q does not mention %q", reports[0], c.want)
				}
			}
		})
	}
}

// TestBodyWhereNoneIsDeclared fakes the answer below net/http, whose
// server never sends a body with a 204.
func TestBodyWhereNoneIsDeclared(t *testing.T) {
	var reports []error
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 204, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("{}")), Request: r}, nil
	})
	hc := &http.Client{Transport: Transport(base, func(err error) { reports = append(reports, err) })}
	resp, err := hc.Post("http://127.0.0.1:1/api/agents/agt_x/heartbeat", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(reports) != 1 || !strings.Contains(reports[0].Error(), "declares none") {
		t.Fatalf("reports %v, want one about the body", reports)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestClientReportsThroughT checks the testing.TB convenience with a
// recording TB.
func TestClientReportsThroughT(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTeapot)
	}))
	defer srv.Close()
	rec := &recordingTB{TB: t}
	resp, err := Client(rec, nil).Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "GET /healthz → 418") {
		t.Fatalf("errors through t: %q", rec.errs)
	}
}

type recordingTB struct {
	testing.TB
	errs []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, strings.TrimSpace(sprintf(format, args...)))
}

// TestDocumentLoads checks the document on its own: it parses, passes
// kin-openapi's validation and describes operations.
func TestDocumentLoads(t *testing.T) {
	doc, err := Doc()
	if err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	routes, err := Routes()
	if err != nil || len(routes) < 10 {
		t.Fatalf("routes %v, %v", routes, err)
	}
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		if !Described(path) || strings.ToUpper(method) != method {
			t.Errorf("route %q: the document describes a path Described says is not its own", r)
		}
	}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
