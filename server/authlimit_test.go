package server_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/argus-exec/argus/internal/apispec"
	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/token"
)

// lookupCounter counts the server's token lookups, so a test can prove
// that a throttled attempt never reached the store.
type lookupCounter struct {
	store.Store
	n atomic.Int64
}

func (c *lookupCounter) TokenByHash(ctx context.Context, hash string) (store.Token, error) {
	c.n.Add(1)
	return c.Store.TokenByHash(ctx, hash)
}

// clock is a settable server clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// limitHarness is a server with a failed-auth budget of burst, regained
// at one a second on a clock the test moves, counting token lookups.
func limitHarness(t *testing.T, burst int, proxies ...netip.Prefix) (*harness, *clock, *lookupCounter) {
	clk := &clock{now: time.Now()}
	var lc *lookupCounter
	h := newHarnessWrapped(t, server.Config{AuthFailBurst: burst, AuthFailRate: 1, Now: clk.Now, TrustedProxies: proxies}, nil,
		func(st store.Store) store.Store { lc = &lookupCounter{Store: st}; return lc })
	return h, clk, lc
}

// unknownToken is well-formed, checksum and all, but was never minted
// here: what a guesser sends.
func unknownToken(t *testing.T) string {
	t.Helper()
	tok, err := token.New(token.User)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// fromAddr is a spec-checking client whose connections come from the
// loopback address local (127.0.0.0/8 is all loopback on Linux).
func fromAddr(t *testing.T, local string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	return apispec.Client(t, &http.Client{Transport: &http.Transport{DialContext: d.DialContext}})
}

func wantThrottled(t *testing.T, what string, r response) {
	t.Helper()
	if r.code != http.StatusTooManyRequests {
		t.Fatalf("%s: got %d %s, want 429", what, r.code, r.body)
	}
	if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 {
		t.Fatalf("%s: Retry-After %q, want whole seconds >= 1", what, r.header.Get("Retry-After"))
	}
	if !strings.Contains(string(r.body), `"error"`) {
		t.Fatalf("%s: body %s is not a JSON error", what, r.body)
	}
}

func TestFailedAuthThrottledPerAddress(t *testing.T) {
	const burst = 5
	h, clk, lookups := limitHarness(t, burst)
	good := h.user("alice")
	h.expect(200, "GET", "/api/batches", good, nil) // the good token is known good from here on
	before := h.snapshot()

	for i := range burst {
		bad := unknownToken(t)
		if i%2 == 1 {
			bad = "em_live_garbage" // malformed: counts too, never looked up
		}
		h.expect(401, "GET", "/api/batches", bad, nil)
	}
	n := lookups.n.Load()
	for range 50 {
		wantThrottled(t, "a guess over budget", h.do("GET", "/api/batches", unknownToken(t), nil))
	}
	wantThrottled(t, "no token over budget", h.do("GET", "/api/agents", "", nil))
	if got := lookups.n.Load(); got != n {
		t.Fatalf("%d token lookups while over budget, want none", got-n)
	}

	// The good token from the same address, at the same instant: served.
	h.expect(200, "GET", "/api/batches", good, nil)
	h.expect(200, "GET", "/api/agents", good, nil)

	// Another address has its own budget.
	other := h.client
	h.client = fromAddr(t, "127.0.0.2")
	h.expect(401, "GET", "/api/batches", unknownToken(t), nil)
	h.client = other

	// A second later one attempt is back, and only one.
	clk.add(time.Second)
	h.expect(401, "GET", "/api/batches", unknownToken(t), nil)
	wantThrottled(t, "the attempt after the regained one", h.do("GET", "/api/batches", unknownToken(t), nil))
	h.unchanged(before, "failed and throttled attempts")
	wantMetric(t, h, `argus_auth_refused_total{via="api"}`, 52)
}

// A token that worked keeps its pass only while it works: revoked, it
// gets its 401 once and is then throttled like any guess.
func TestThrottledRevokedTokenLosesItsPass(t *testing.T) {
	h, _, _ := limitHarness(t, 1)
	good := h.user("alice")
	h.expect(200, "GET", "/api/batches", good, nil)
	h.expect(401, "GET", "/api/batches", unknownToken(t), nil) // budget spent
	h.revoke(good)
	h.expect(401, "GET", "/api/batches", good, nil) // told, once, that it is revoked
	wantThrottled(t, "the revoked token again", h.do("GET", "/api/batches", good, nil))
}

// Behind a trusted proxy the client named in X-Forwarded-For is counted;
// from anyone else the header is ignored.
func TestThrottleTrustedProxy(t *testing.T) {
	h, _, _ := limitHarness(t, 2, netip.MustParsePrefix("127.0.0.0/8"))
	viaProxy := func(client string) int {
		req, err := http.NewRequest("GET", h.url+"/api/batches", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+unknownToken(t))
		req.Header.Set("X-Forwarded-For", client+", 127.0.0.9")
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i, want := range []int{401, 401, 429, 429} {
		if got := viaProxy("203.0.113.5"); got != want {
			t.Fatalf("attempt %d for 203.0.113.5: %d, want %d", i+1, got, want)
		}
	}
	if got := viaProxy("203.0.113.6"); got != 401 {
		t.Fatalf("another client behind the proxy: %d, want 401", got)
	}

	h2, _, _ := limitHarness(t, 2) // no trusted proxy: the header means nothing
	for i, want := range []int{401, 401, 429} {
		req, _ := http.NewRequest("GET", h2.url+"/api/batches", nil)
		req.Header.Set("Authorization", "Bearer "+unknownToken(t))
		req.Header.Set("X-Forwarded-For", "198.51.100."+strconv.Itoa(i))
		resp, err := h2.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("untrusted X-Forwarded-For, attempt %d: %d, want %d", i+1, resp.StatusCode, want)
		}
	}
}

func TestFailedSignInsThrottled(t *testing.T) {
	const burst = 3
	h, clk, lookups := limitHarness(t, burst)
	good := h.user("alice")
	h.login(good)
	before := h.snapshot()
	signIn := func(tok string) uiResp {
		return h.ui(uiReq{method: "POST", path: "/login", form: url.Values{"token": {tok}}})
	}
	for range burst {
		if r := signIn(unknownToken(t)); r.code != http.StatusUnauthorized {
			t.Fatalf("a wrong token: %d, want 401", r.code)
		}
	}
	n := lookups.n.Load()
	r := signIn(unknownToken(t))
	if r.code != http.StatusTooManyRequests || r.header.Get("Retry-After") != "1" || !strings.Contains(r.body, "too many failed authentications") {
		t.Fatalf("over budget: %d Retry-After %q\n%s", r.code, r.header.Get("Retry-After"), r.body)
	}
	if lookups.n.Load() != n {
		t.Fatal("a throttled sign-in looked its token up")
	}
	// API failures and sign-ins share the address's budget.
	wantThrottled(t, "API after failed sign-ins", h.do("GET", "/api/batches", unknownToken(t), nil))

	h.login(good) // a token known good still signs in at once
	h.unchanged(before, "failed and throttled sign-ins")
	// A valid token this server has not seen work yet waits like a guess
	// (the documented price of not looking guesses up).
	fresh, err := server.CreateToken(context.Background(), h.store, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if r := signIn(fresh); r.code != http.StatusTooManyRequests {
		t.Fatalf("an unseen valid token over budget: %d, want 429", r.code)
	}
	clk.add(time.Second)
	h.login(fresh)
	wantMetric(t, h, `argus_auth_refused_total{via="web"}`, 2)
}

// hangUpStore answers the lookup of a request whose client has gone with
// the context's error, as a database driver does, and can be made to fail
// for reasons of its own.
type hangUpStore struct {
	store.Store
	n    atomic.Int64
	down atomic.Bool
}

func (c *hangUpStore) TokenByHash(ctx context.Context, hash string) (store.Token, error) {
	c.n.Add(1)
	if err := ctx.Err(); err != nil {
		return store.Token{}, err
	}
	if c.down.Load() {
		return store.Token{}, errors.New("database is down")
	}
	return c.Store.TokenByHash(ctx, hash)
}

// A guesser that hangs up on every request still spends its budget: the
// lookup it cut short counts as a failure. The store failing on its own
// is nobody's fault and counts for nothing, and a hang-up costs a token
// that is known good neither its pass nor its address anything.
func TestHungUpAttemptsCounted(t *testing.T) {
	const burst = 3
	clk := &clock{now: time.Now()}
	var st *hangUpStore
	h := newHarnessWrapped(t, server.Config{AuthFailBurst: burst, AuthFailRate: 1, Now: clk.Now}, nil,
		func(s store.Store) store.Store { st = &hangUpStore{Store: s}; return st })
	// serve answers one request in process: the attempt is settled when
	// ServeHTTP returns, so the test needs no waiting.
	serve := func(method, path, tok, from string, form url.Values, hangUp bool) int {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if hangUp {
			cancel()
		}
		var req *http.Request
		if form != nil {
			req = httptest.NewRequestWithContext(ctx, method, path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", "http://"+req.Host)
		} else {
			req = httptest.NewRequestWithContext(ctx, method, path, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		req.RemoteAddr = from + ":4711"
		rec := httptest.NewRecorder()
		h.srv.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	api := func(tok, from string, hangUp bool) int { return serve("GET", "/api/batches", tok, from, nil, hangUp) }

	good := h.user("alice")
	if code := api(good, "192.0.2.1", false); code != 200 {
		t.Fatalf("the good token: %d", code)
	}
	for range burst + 1 {
		if code := api(good, "192.0.2.1", true); code == http.StatusTooManyRequests {
			t.Fatal("a known good token that hung up was throttled")
		}
	}
	for i := range burst {
		n := st.n.Load()
		if code := api(unknownToken(t), "192.0.2.1", true); code == http.StatusTooManyRequests || st.n.Load() != n+1 {
			t.Fatalf("hung-up guess %d: %d, %d lookups; want it looked up", i+1, code, st.n.Load()-n)
		}
	}
	n := st.n.Load()
	if code := api(unknownToken(t), "192.0.2.1", false); code != http.StatusTooManyRequests || st.n.Load() != n {
		t.Fatalf("a guess after %d hung-up ones: %d, want 429 without a lookup", burst, code)
	}
	if code := api(good, "192.0.2.1", false); code != 200 {
		t.Fatalf("the good token after its hang-ups: %d, want 200", code)
	}

	// Sign-ins hung up count the same way, from an address of their own.
	for range burst {
		serve("POST", "/login", "", "192.0.2.3", url.Values{"token": {unknownToken(t)}}, true)
	}
	if code := serve("POST", "/login", "", "192.0.2.3", url.Values{"token": {unknownToken(t)}}, false); code != http.StatusTooManyRequests {
		t.Fatalf("a sign-in after %d hung-up ones: %d, want 429", burst, code)
	}

	st.down.Store(true)
	n = st.n.Load()
	for range burst + 2 {
		if code := api(unknownToken(t), "192.0.2.2", false); code == http.StatusTooManyRequests {
			t.Fatal("attempts the store failed were counted against the address")
		}
	}
	if got := st.n.Load() - n; got != burst+2 {
		t.Fatalf("%d lookups while the store was down, want %d", got, burst+2)
	}
}

// wantMetric reads one sample from /metrics.
func wantMetric(t *testing.T, h *harness, series string, want int) {
	t.Helper()
	resp, err := http.Get(h.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			if v != strconv.Itoa(want) {
				t.Fatalf("%s = %s, want %d", series, v, want)
			}
			return
		}
	}
	t.Fatalf("%s not in /metrics", series)
}
