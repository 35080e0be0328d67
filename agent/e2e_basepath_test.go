//go:build linux

// The README's first session behind a reverse proxy that serves Argus
// under /argus and passes the path on as it came: the server runs with
// --base-path /argus, and the CLI, the agent and a browser only ever talk
// to the proxy.

package agent_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/testenv"
)

func TestTheFirstSessionBehindAProxyUnderAPath(t *testing.T) {
	t.Parallel()
	ctx := testenv.Browser(t)
	e := testenv.New(t, "faultinject")
	srv := e.StartServer(testenv.ServerSpec{BasePath: "/argus", PathProxy: true, Args: []string{"--lease", "2s"}})
	if !strings.HasSuffix(srv.URL, "/argus") {
		t.Fatalf("the harness's URL %s does not go through the prefix", srv.URL)
	}
	tok := e.CreateUser(srv, "alice")
	argus := func(args ...string) testenv.Result {
		t.Helper()
		return e.Run(testenv.RunSpec{Argv: append([]string{e.Bin(testenv.CLIBin)}, args...),
			Env: []string{"ARGUS_URL=" + srv.URL, "ARGUS_TOKEN=" + tok}, Dir: e.Dir})
	}

	// Record, register an agent, start it, rerun and follow: all through
	// the proxy.
	r := argus("record", "--project", "mnist", "--no-run", "--", "sh", "-c", "echo behind the proxy")
	m := regexp.MustCompile(`recorded batch (\S+)`).FindStringSubmatch(r.Stderr)
	if r.Code != 0 || m == nil {
		t.Fatalf("argus record through the proxy: %s", r)
	}
	batchID := m[1]
	home, id := e.AgentHome(srv, tok, "")
	e.StartAgent(srv, testenv.AgentSpec{Home: home, Args: []string{"--heartbeat-interval", "1s", "--poll-wait", "5s"}},
		id, e.Client(srv, tok, client.Options{RetryMax: -1}))
	if r := argus("rerun", batchID, "--follow"); r.Code != 0 || !strings.Contains(r.Stdout, "behind the proxy") {
		t.Fatalf("argus rerun --follow through the proxy: %s", r)
	}
	if r := argus("agents"); r.Code != 0 || !strings.Contains(r.Stdout, id) || !strings.Contains(r.Stdout, "online") {
		t.Fatalf("argus agents through the proxy: %s", r)
	}

	// Health and metrics live under the prefix too; nothing outside it.
	hc := e.HTTPClient(srv)
	for path, want := range map[string]int{"/healthz": 200, "/metrics": 200, "": http.StatusMovedPermanently} {
		resp, err := hc.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s%s: %d, want %d", srv.URL, path, resp.StatusCode, want)
		}
	}

	// The browser: sign in, the home page, the batch, Rerun, the run's
	// output; every link, form, script and redirect under /argus.
	err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("token")), // sent to the sign-in page, under the prefix
		chromedp.SendKeys(chromedp.ID("token"), tok),
		chromedp.Click(chromedp.ID("signin")),
		testenv.TextHas("#home-runs", "exited 0"),
		testenv.TextHas("#hosts", "online"),
		chromedp.Click(chromedp.CSS(`#batches a.batch-link`)),
		chromedp.WaitVisible(chromedp.ID("rerun")),
		chromedp.Click(chromedp.ID("rerun")),
		testenv.TextHas("#flash", "rerun queued as run_"),
		testenv.TextHas("#runs", "exited 0"),
		chromedp.Click(chromedp.CSS(`#runs a.run-link`)),
		testenv.TextHas("#log", "behind the proxy"),
	)
	if err != nil {
		t.Fatalf("the UI through the proxy: %v", err)
	}
	at, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname`))
	if err != nil || !strings.HasPrefix(at, "/argus/ui/runs/") {
		t.Fatalf("the run page is at %q (%v), want under /argus/ui/runs/", at, err)
	}
	// Every stylesheet, script and link of the page is under the prefix.
	outside, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("a[href], link[href], script[src], form[action]"))
		.map(e => e.getAttribute("href") || e.getAttribute("src") || e.getAttribute("action"))
		.filter(u => !u.startsWith("/argus/"))`))
	if err != nil || len(outside) > 0 {
		t.Fatalf("links of the run page outside /argus/ (%v): %q", err, outside)
	}
	styled, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("header")).borderBottomStyle`))
	if err != nil || styled != "solid" {
		t.Fatalf("the stylesheet did not load through the proxy: header border %q (%v)", styled, err)
	}
	testenv.SaveShot(t, ctx, "run-behind-proxy.png")

	// The sign-in's redirect and cookie carry the prefix.
	req, err := http.NewRequest("POST", srv.URL+"/login", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", strings.TrimSuffix(srv.URL, "/argus"))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/argus/" || len(cookies) != 1 || cookies[0].Path != "/argus/" {
		t.Fatalf("sign-in through the proxy: %d to %q, cookies %v; want 303 to /argus/ and a cookie for /argus/",
			resp.StatusCode, resp.Header.Get("Location"), cookies)
	}
}
