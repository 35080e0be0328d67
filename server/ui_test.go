package server_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
)

func TestUILoginRefusesBadRevokedAndAgentTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	revoked := h.user("carol")
	h.revoke(revoked)
	_, agentTok := h.agent(alice, "gpu-01", "", true)
	typo := alice[:len(alice)-1] + map[bool]string{true: "A", false: "B"}[alice[len(alice)-1] != 'A']
	for _, c := range []struct{ name, tok, says string }{
		{"garbage", "hello", "not a token"},
		{"typo", typo, "checksum"},
		{"revoked", revoked, "unknown or revoked"},
		{"agent token", agentTok, "agent (ag_live_) token"},
	} {
		r := h.ui(uiReq{method: "POST", path: "/login", form: url.Values{"token": {c.tok}}})
		if r.code != http.StatusUnauthorized || len(r.cookies) != 0 || !strings.Contains(r.body, c.says) {
			t.Fatalf("%s: %d cookies=%v body=%s", c.name, r.code, r.cookies, r.body)
		}
		if strings.Contains(r.body, c.tok) {
			t.Fatalf("%s: the refused token is echoed back in the page", c.name)
		}
	}
	// Login CSRF: a valid token posted from another site, or from nowhere
	// a browser would name, signs nobody in.
	for _, hdr := range []map[string]string{
		{"Origin": "http://evil.example"},
		{"Origin": "", "Referer": "http://evil.example/login"},
		{"Origin": "", "Referer": ""},
		{"Sec-Fetch-Site": "cross-site"},
	} {
		r := h.ui(uiReq{method: "POST", path: "/login", form: url.Values{"token": {alice}}, headers: hdr})
		if r.code != http.StatusForbidden || len(r.cookies) != 0 {
			t.Fatalf("login with %v: %d %v", hdr, r.code, r.cookies)
		}
	}
}

func TestUISessionCookie(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	c := h.login(alice)
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure || c.MaxAge <= 0 {
		t.Fatalf("cookie flags: %+v", c)
	}
	if strings.Contains(c.Value, alice) || strings.Contains(c.Value, alice[len("em_live_"):]) {
		t.Fatal("the session cookie carries the token")
	}
	mustContain(t, h.page(c, "/"), "signed in as <strong>alice</strong>")

	// A tampered cookie is no session.
	forged := *c
	forged.Value = strings.Replace(c.Value, ".", ".x", 1)
	if r := h.ui(uiReq{method: "GET", path: "/", cookie: &forged}); r.code != http.StatusSeeOther || r.location != "/login" {
		t.Fatalf("forged cookie: %d %s", r.code, r.location)
	}
	// Revoking the token ends its sessions on the next request.
	h.revoke(alice)
	if r := h.ui(uiReq{method: "GET", path: "/", cookie: c}); r.code != http.StatusSeeOther || r.location != "/login" {
		t.Fatalf("revoked session: %d %s", r.code, r.location)
	}

	// Over TLS the cookie is Secure.
	ts := httptest.NewTLSServer(h.srv.Handler())
	defer ts.Close()
	bob := h.user("bob")
	req, _ := http.NewRequest("POST", ts.URL+"/login", strings.NewReader(url.Values{"token": {bob}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", ts.URL)
	cl := ts.Client()
	cl.CheckRedirect = noRedirect.CheckRedirect
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cs := resp.Cookies(); resp.StatusCode != http.StatusSeeOther || len(cs) != 1 || !cs[0].Secure || !cs[0].HttpOnly {
		t.Fatalf("TLS login: %d %+v", resp.StatusCode, cs)
	}
}

func TestUIPagesNeedASessionAndSendSecurityHeaders(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	id := h.batch(alice, "mnist", "gpu-01")
	h.agent(alice, "gpu-01", "", true)
	before := h.snapshot()
	for _, q := range []uiReq{
		{method: "GET", path: "/"},
		{method: "GET", path: "/ui/batches/" + id},
		{method: "POST", path: "/ui/batches/" + id + "/rerun", form: url.Values{}},
		{method: "POST", path: "/logout", form: url.Values{}},
	} {
		if r := h.ui(q); r.code != http.StatusSeeOther || r.location != "/login" {
			t.Fatalf("%s %s without a session: %d %s", q.method, q.path, r.code, r.location)
		}
	}
	h.unchanged(before, "UI requests without a session")

	c := h.login(alice)
	for _, path := range []string{"/login", "/", "/ui/batches/" + id, "/ui/batches/bat_nope"} {
		r := h.ui(uiReq{method: "GET", path: path, cookie: c})
		want := map[string]string{
			"Content-Security-Policy": "default-src 'self'", "X-Frame-Options": "DENY",
			"Referrer-Policy": "same-origin", "X-Content-Type-Options": "nosniff",
		}
		for k, v := range want {
			if !strings.Contains(r.header.Get(k), v) {
				t.Fatalf("GET %s: %s = %q", path, k, r.header.Get(k))
			}
		}
	}
	if r := h.ui(uiReq{method: "GET", path: "/ui/batches/bat_nope", cookie: c}); r.code != http.StatusNotFound {
		t.Fatalf("unknown batch: %d", r.code)
	}
	// Signing out needs the CSRF token too, and clears the cookie.
	home := h.page(c, "/")
	r := h.ui(uiReq{method: "POST", path: "/logout", cookie: c, form: url.Values{"csrf": {csrfOf(t, home)}}})
	if r.code != http.StatusSeeOther || r.location != "/login" || len(r.cookies) != 1 || r.cookies[0].MaxAge >= 0 {
		t.Fatalf("logout: %d %s %+v", r.code, r.location, r.cookies)
	}
	// A copy of the signed-out cookie (another browser, a proxy log) is
	// dead too; a new sign-in works.
	if r := h.ui(uiReq{method: "GET", path: "/", cookie: c}); r.code != http.StatusSeeOther || r.location != "/login" {
		t.Fatalf("the signed-out cookie still opens /: %d %s", r.code, r.location)
	}
	if again := h.login(alice); h.ui(uiReq{method: "GET", path: "/", cookie: again}).code != http.StatusOK {
		t.Fatal("signing in again after a sign-out failed")
	}
}

func TestUIRefusesCrossSiteAndTokenlessForms(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	id := h.batch(alice, "mnist", "gpu-01")
	agentID, agentTok := h.agent(alice, "gpu-01", "", true)
	c := h.login(alice)
	csrf := csrfOf(t, h.page(c, "/ui/batches/"+id))
	other := csrfOf(t, h.page(h.login(alice), "/")) // same user, another login
	rerun := "/ui/batches/" + id + "/rerun"
	before := h.snapshot()
	for _, q := range []struct {
		name string
		form url.Values
		hdr  map[string]string
	}{
		{"no token", url.Values{}, nil},
		{"wrong token", url.Values{"csrf": {"AAAA"}}, nil},
		{"another session's token", url.Values{"csrf": {other}}, nil},
		{"cross-origin Origin", url.Values{"csrf": {csrf}}, map[string]string{"Origin": "http://evil.example"}},
		{"cross-site fetch", url.Values{"csrf": {csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"cross-origin Referer", url.Values{"csrf": {csrf}}, map[string]string{"Origin": "", "Referer": "http://evil.example/x"}},
		{"no Origin nor Referer", url.Values{"csrf": {csrf}}, map[string]string{"Origin": ""}},
	} {
		r := h.ui(uiReq{method: "POST", path: rerun, cookie: c, form: q.form, headers: q.hdr})
		if r.code != http.StatusForbidden || !strings.Contains(r.body, "refused") {
			t.Fatalf("%s: %d %s", q.name, r.code, r.body)
		}
	}
	h.unchanged(before, "refused cross-site or tokenless forms")
	if cmds := h.jobs(agentID, agentTok); len(cmds) != 0 {
		t.Fatalf("a refused form queued %+v", cmds)
	}
	// A same-origin Referer without Origin (older browsers) is accepted.
	r := h.ui(uiReq{method: "POST", path: rerun, cookie: c, form: url.Values{"csrf": {csrf}},
		headers: map[string]string{"Origin": "", "Referer": h.url + "/ui/batches/" + id}})
	if r.code != http.StatusSeeOther {
		t.Fatalf("same-origin Referer: %d %s", r.code, r.body)
	}
}

func TestUIRerunAndStopThroughForms(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, bob := h.user("alice"), h.user("bob")
	id := h.batch(alice, "mnist", "gpu-01")
	agentID, agentTok := h.agent(alice, "gpu-01", "", true)
	c := h.login(alice)
	page := h.page(c, "/")
	mustContain(t, page, "gpu-01", `class="badge online">online`, "/ui/batches/"+id, "python train.py --lr 0.1")
	page = h.page(c, "/ui/batches/"+id)
	if strings.Contains(page, "disabled") {
		t.Fatalf("Rerun is greyed out with an online agent:\n%s", page)
	}
	loc, page := h.submit(c, "/ui/batches/"+id+"/rerun", csrfOf(t, page))
	if !strings.HasPrefix(loc, "/ui/batches/"+id+"?") {
		t.Fatalf("rerun redirected to %s", loc)
	}
	mustContain(t, page, "rerun queued as run_", "flash-ok", "queued")
	cmds := h.jobs(agentID, agentTok)
	if len(cmds) != 1 || cmds[0].Kind != api.KindRerun {
		t.Fatalf("jobs = %+v", cmds)
	}
	h.expect(200, "POST", "/api/agents/"+agentID+"/jobs/"+cmds[0].ID+"/ack", agentTok, api.AckRequest{PID: 4242})
	page = h.page(c, "/ui/batches/"+id)
	mustContain(t, page, "status-running", `<td class="pid">4242</td>`, `class="stop"`)

	_, page = h.submit(c, "/ui/runs/"+cmds[0].RunID+"/stop", csrfOf(t, page))
	mustContain(t, page, "stop queued for "+cmds[0].RunID, "stopping")
	cmds = h.jobs(agentID, agentTok)
	if len(cmds) != 1 || cmds[0].Kind != api.KindStop || cmds[0].Stop.PID != 4242 {
		t.Fatalf("jobs after Stop = %+v", cmds)
	}
	// Stopping again is the API's 409, shown as a flash.
	before := h.snapshot()
	_, page = h.submit(c, "/ui/runs/"+cmds[0].RunID+"/stop", csrfOf(t, page))
	mustContain(t, page, "flash-error", "is stopping, not running")
	h.unchanged(before, "a second Stop")

	// Bob is neither owner nor recipient: 403 as a flash, nothing queued.
	bc := h.login(bob)
	bcsrf := csrfOf(t, h.page(bc, "/"))
	r := h.ui(uiReq{method: "POST", path: "/ui/batches/" + id + "/rerun", cookie: bc, form: url.Values{"csrf": {bcsrf}}})
	if r.code != http.StatusSeeOther || !strings.Contains(r.location, "flash=only+the+owner") {
		t.Fatalf("bob's rerun: %d %s", r.code, r.location)
	}
	h.unchanged(before, "bob's rerun")
	// A flash is signed for the session: a crafted link shows nothing.
	body := h.page(c, "/ui/batches/"+id+"?flash=Your+token+expired&kind=error&sig=AAAA")
	if strings.Contains(body, "Your token expired") {
		t.Fatal("an unsigned flash was displayed")
	}
}

func TestUIGreysOutRerunAndSaysWhy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, bob := h.user("alice"), h.user("bob")
	id := h.batch(alice, "mnist", "gpu-01")
	h.agent(alice, "gpu-01", "", false) // registered, never heartbeated
	h.agent(bob, "gpu-01", "", true)    // online, but not the owner's
	c := h.login(alice)
	page := h.page(c, "/")
	mustContain(t, page, `class="badge offline">offline`)
	page = h.page(c, "/ui/batches/"+id)
	mustContain(t, page, `id="rerun" disabled`, "no agent of yours is online on gpu-01")
	// Pressing it anyway (a stale page) is the API's 409, as a flash.
	before := h.snapshot()
	_, page = h.submit(c, "/ui/batches/"+id+"/rerun", csrfOf(t, page))
	mustContain(t, page, "flash-error", "no agent of the batch owner is online on host gpu-01")
	h.unchanged(before, "a rerun with no agent online")

	// A project's owner may view a recipient's batch but not rerun it.
	h.expect(200, "POST", "/api/projects/mnist/recipients", alice, api.ShareRequest{User: "bob"})
	bobBatch := h.batch(bob, "mnist", "gpu-01")
	page = h.page(c, "/ui/batches/"+bobBatch)
	mustContain(t, page, `id="rerun" disabled`, "only its owner (bob) or a recipient of project mnist")
	if strings.Contains(page, `class="stop"`) {
		t.Fatal("a view-only page offers Stop")
	}
}

// Behind a proxy that ends TLS the server sees plain HTTP; the operator's
// SecureCookies still marks the session cookie Secure.
func TestUISecureCookiesBehindAProxy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{SecureCookies: true})
	if c := h.login(h.user("alice")); !c.Secure || !c.HttpOnly {
		t.Fatalf("cookie flags with SecureCookies over plain HTTP: %+v", c)
	}
}
