package server_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server"
)

// uiResp is one raw answer of the web UI; redirects are not followed, so
// tests see the 303 and its Location.
type uiResp struct {
	code     int
	body     string
	header   http.Header
	cookies  []*http.Cookie
	location string
}

// uiReq is a browser-shaped request: the session cookie, an Origin for
// POSTs unless told otherwise, form values.
type uiReq struct {
	method, path string
	cookie       *http.Cookie
	form         url.Values
	headers      map[string]string // "" value: the header is left out
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (h *harness) ui(q uiReq) uiResp {
	h.t.Helper()
	var body io.Reader
	if q.form != nil {
		body = strings.NewReader(q.form.Encode())
	}
	req, err := http.NewRequest(q.method, h.url+q.path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if q.form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if q.method == "POST" {
		req.Header.Set("Origin", h.url) // what a browser sends for a same-origin form
	}
	for k, v := range q.headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	if q.cookie != nil {
		req.AddCookie(q.cookie)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", q.method, q.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return uiResp{code: resp.StatusCode, body: string(data), header: resp.Header, cookies: resp.Cookies(), location: resp.Header.Get("Location")}
}

// login signs in through the form and returns the session cookie.
func (h *harness) login(tok string) *http.Cookie {
	h.t.Helper()
	r := h.ui(uiReq{method: "POST", path: "/login", form: url.Values{"token": {tok}}})
	if r.code != http.StatusSeeOther || r.location != "/" {
		h.t.Fatalf("login: %d %s %s", r.code, r.location, r.body)
	}
	for _, c := range r.cookies {
		if c.Name == "argus_session" && c.Value != "" {
			return c
		}
	}
	h.t.Fatalf("login set no session cookie: %v", r.cookies)
	return nil
}

// page GETs a UI page with the session and wants 200.
func (h *harness) page(c *http.Cookie, path string) string {
	h.t.Helper()
	r := h.ui(uiReq{method: "GET", path: path, cookie: c})
	if r.code != http.StatusOK {
		h.t.Fatalf("GET %s: %d %s %s", path, r.code, r.location, r.body)
	}
	return r.body
}

var csrfPattern = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf reads the CSRF token from a page's forms.
func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfPattern.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf field in page:\n%s", body)
	}
	return m[1]
}

// submit POSTs a form with the session and its CSRF token; it wants the
// 303 back to a page and returns that page's body.
func (h *harness) submit(c *http.Cookie, path, csrf string) (location, body string) {
	h.t.Helper()
	r := h.ui(uiReq{method: "POST", path: path, cookie: c, form: url.Values{"csrf": {csrf}}})
	if r.code != http.StatusSeeOther {
		h.t.Fatalf("POST %s: %d %s", path, r.code, r.body)
	}
	return r.location, h.page(c, r.location)
}

func mustContain(t *testing.T, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Fatalf("page lacks %q:\n%s", w, body)
		}
	}
}

// browserOnABatch is the scene of the batch-page browser tests: Chromium,
// a server, alice with an online agent on gpu-01 and an mnist batch there.
func browserOnABatch(t *testing.T) (ctx context.Context, h *harness, alice, agentID, agentTok, batchID string) {
	ctx = testenv.Browser(t)
	h = newHarness(t, server.Config{})
	alice = h.user("alice")
	agentID, agentTok = h.agent(alice, "gpu-01", "", true)
	batchID = h.batch(alice, "mnist", "gpu-01")
	return ctx, h, alice, agentID, agentTok, batchID
}
