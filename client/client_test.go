package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/token"
)

// fastOpts retries quickly so tests stay fast but still exercise backoff.
func fastOpts() Options {
	return Options{RetryMax: 3, RetryWaitMin: time.Millisecond, RetryWaitMax: 5 * time.Millisecond, Timeout: 5 * time.Second}
}

func userToken(t *testing.T) string {
	t.Helper()
	tok, err := token.New(token.User)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func newTestClient(t *testing.T, url, tok string, opts Options) *Client {
	t.Helper()
	c, err := New(url, tok, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func TestRetriesOn503ThenSucceeds(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) < 3 {
			writeJSON(w, http.StatusServiceUnavailable, api.Error{Error: "warming up"})
			return
		}
		writeJSON(w, http.StatusOK, api.RunList{Runs: []api.Run{{ID: "r1"}}})
	}))
	defer srv.Close()

	c := newTestClient(t, srv.URL, userToken(t), fastOpts())
	runs, err := c.Runs(context.Background(), RunsOptions{})
	if err != nil {
		t.Fatalf("Runs: %v", err)
	}
	if len(runs.Runs) != 1 || runs.Runs[0].ID != "r1" {
		t.Fatalf("runs = %+v", runs)
	}
	if got := hits.Load(); got != 3 {
		t.Fatalf("server saw %d attempts, want 3", got)
	}
}

func TestRetriesExhaustedReportsLastStatus(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		writeJSON(w, http.StatusBadGateway, api.Error{Error: "upstream down"})
	}))
	defer srv.Close()

	c := newTestClient(t, srv.URL, userToken(t), fastOpts())
	_, err := c.Agents(context.Background(), ListOptions{})
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadGateway {
		t.Fatalf("err = %v, want APIError 502", err)
	}
	if got := hits.Load(); got != 4 {
		t.Fatalf("server saw %d attempts, want 1 + RetryMax(3)", got)
	}
	if want := "GET /api/agents: 502 Bad Gateway: upstream down"; err.Error() != want {
		t.Fatalf("err = %q, want %q", err, want)
	}
}

func TestNoRetryOn4xxAndSentinels(t *testing.T) {
	t.Parallel()
	cases := []struct {
		code int
		want error
	}{
		{http.StatusBadRequest, ErrBadRequest},
		{http.StatusUnauthorized, ErrUnauthorized},
		{http.StatusForbidden, ErrForbidden},
		{http.StatusNotFound, ErrNotFound},
		{http.StatusConflict, ErrConflict},
		{http.StatusRequestEntityTooLarge, ErrTooLarge},
	}
	sentinels := []error{ErrBadRequest, ErrUnauthorized, ErrForbidden, ErrNotFound, ErrConflict, ErrTooLarge}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				writeJSON(w, tc.code, api.Error{Error: "nope"})
			}))
			defer srv.Close()

			c := newTestClient(t, srv.URL, userToken(t), fastOpts())
			_, err := c.Batch(context.Background(), "b1")
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want Is(%v)", err, tc.want)
			}
			for _, s := range sentinels {
				if s != tc.want && errors.Is(err, s) {
					t.Fatalf("err %v also matches %v", err, s)
				}
			}
			if got := hits.Load(); got != 1 {
				t.Fatalf("server saw %d attempts, want 1", got)
			}
		})
	}
}

func TestAPIErrorIsOneLine(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusConflict, api.Error{Error: "no agent online\nfor host gpu-01"})
	}))
	defer srv.Close()

	c := newTestClient(t, srv.URL, userToken(t), fastOpts())
	_, err := c.Rerun(context.Background(), "x", api.RerunRequest{})
	want := "POST /api/batches/x/rerun: 409 Conflict: no agent online for host gpu-01"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	// Wrapping keeps the mapping.
	if !errors.Is(fmt.Errorf("rerun: %w", err), ErrConflict) {
		t.Fatal("wrapped error lost ErrConflict")
	}
}

func TestUnsafeCallsNotRetriedAfterServerSawThem(t *testing.T) {
	t.Parallel()
	for _, code := range []int{http.StatusInternalServerError, http.StatusBadGateway} {
		var hits atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			writeJSON(w, code, api.Error{Error: "boom"})
		}))
		c := newTestClient(t, srv.URL, userToken(t), fastOpts())
		_, err := c.CreateBatch(context.Background(), api.CreateBatchRequest{Project: "p"})
		srv.Close()
		if err == nil {
			t.Fatalf("%d: want error", code)
		}
		if got := hits.Load(); got != 1 {
			t.Fatalf("%d: CreateBatch attempted %d times, want 1", code, got)
		}
	}
}

func TestUnsafeCallRetriedOn429(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			writeJSON(w, http.StatusTooManyRequests, api.Error{Error: "slow down"})
			return
		}
		writeJSON(w, http.StatusAccepted, api.Queued{RunID: "r1", CmdID: "c1"})
	}))
	defer srv.Close()

	c := newTestClient(t, srv.URL, userToken(t), fastOpts())
	q, err := c.Rerun(context.Background(), "b1", api.RerunRequest{})
	if err != nil || q.RunID != "r1" || q.CmdID != "c1" {
		t.Fatalf("Rerun = %+v, %v", q, err)
	}
	if got := hits.Load(); got != 2 {
		t.Fatalf("attempts = %d, want 2", got)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	var first, second atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			first.Store(time.Now().UnixNano())
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusTooManyRequests, api.Error{Error: "slow down"})
			return
		}
		second.Store(time.Now().UnixNano())
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	opts := fastOpts()
	opts.RetryWaitMax = 3 * time.Second // the cap must not cut a 1s Retry-After
	c := newTestClient(t, srv.URL, userToken(t), opts)
	if err := c.Heartbeat(context.Background(), "a1"); err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	// Exponential backoff alone would have waited about a millisecond.
	if gap := time.Duration(second.Load() - first.Load()); gap < 900*time.Millisecond {
		t.Fatalf("retried after %v, want about 1s from Retry-After", gap)
	}
}

// A Retry-After beyond RetryWaitMax is not waited out (nor cut short and
// retried early, against the server's request): the call fails at once
// and says when to come back, for the caller to honour.
func TestRetryAfterBeyondMaxWaitIsHandedToTheCaller(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := newTestClient(t, srv.URL, userToken(t), fastOpts())
	err := c.Heartbeat(ctx, "a1")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusServiceUnavailable || apiErr.RetryAfter != time.Hour {
		t.Fatalf("Heartbeat after a 503 with Retry-After 3600: %v (%+v), want that 503 with RetryAfter 1h", err, apiErr)
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("the server was called %d times, want 1: a Retry-After beyond RetryWaitMax is the caller's", n)
	}
}

func TestNetworkErrorRetried(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			// Drop the connection without an answer.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	c := newTestClient(t, srv.URL, userToken(t), fastOpts())
	if err := c.Heartbeat(context.Background(), "a1"); err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	if got := hits.Load(); got != 2 {
		t.Fatalf("attempts = %d, want 2", got)
	}
}

func TestLongPollOutlivesOrdinaryTimeout(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/agents/a1/jobs" || r.URL.Query().Get("wait") != "1s" {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: "bad request " + r.URL.String()})
			return
		}
		// The hold under test: longer than Options.Timeout, shorter than
		// wait + LongPollGrace.
		select {
		case <-time.After(1500 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		writeJSON(w, http.StatusOK, api.JobList{Commands: []api.Command{{ID: "c1", Kind: api.KindRerun}}})
	}))
	defer srv.Close()

	opts := fastOpts()
	opts.Timeout = 500 * time.Millisecond
	c := newTestClient(t, srv.URL, "ag_live_x", opts)
	jobs, err := c.Jobs(context.Background(), "a1", time.Second)
	if err != nil {
		t.Fatalf("Jobs: %v", err)
	}
	if len(jobs.Commands) != 1 || jobs.Commands[0].ID != "c1" {
		t.Fatalf("jobs = %+v", jobs)
	}
}

func TestOrdinaryCallTimesOut(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()

	opts := fastOpts()
	opts.Timeout = 100 * time.Millisecond
	c := newTestClient(t, srv.URL, userToken(t), opts)
	_, err := c.Run(context.Background(), "r1")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "no answer within 100ms") {
		t.Fatalf("err = %q, want it to name the timeout", err)
	}
}

func TestRequestShape(t *testing.T) {
	t.Parallel()
	tok := userToken(t)
	type seen struct{ method, path, auth, ua, ctype, body string }
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select { // never block: an unexpected extra request must fail the test, not hang it
		case got <- seen{r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), r.Header.Get("User-Agent"), r.Header.Get("Content-Type"), string(b)}:
		default:
		}
		writeJSON(w, http.StatusOK, api.Project{Name: "p/q", Owner: "alice", Recipients: []string{"bob"}})
	}))
	defer srv.Close()

	opts := fastOpts()
	opts.Version = "1.2.3"
	c := newTestClient(t, srv.URL+"/", tok, opts)
	p, err := c.Share(context.Background(), "p/q", "bob")
	if err != nil || p.Owner != "alice" {
		t.Fatalf("Share = %+v, %v", p, err)
	}
	s := <-got
	want := seen{"POST", "/api/projects/p%2Fq/recipients", "Bearer " + tok, "argus-client/1.2.3", "application/json", `{"user":"bob"}`}
	if s != want {
		t.Fatalf("request = %+v\nwant      %+v", s, want)
	}
}

func TestUnshare(t *testing.T) {
	t.Parallel()
	tok := userToken(t)
	type seen struct{ method, path, auth, body string }
	got := make(chan seen, 4)
	code := make(chan int, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select { // never block: an unexpected extra request must fail the test, not hang it
		case got <- seen{r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), string(b)}:
		default:
		}
		switch c := <-code; c {
		case http.StatusNoContent:
			w.WriteHeader(c)
		default:
			writeJSON(w, c, api.Error{Error: "project p/q is not shared with bob"})
		}
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, tok, fastOpts())

	code <- http.StatusNoContent
	if err := c.Unshare(context.Background(), "p/q", "bob"); err != nil {
		t.Fatalf("Unshare: %v", err)
	}
	want := seen{"DELETE", "/api/projects/p%2Fq/recipients/bob", "Bearer " + tok, ""}
	if s := <-got; s != want {
		t.Fatalf("request = %+v\nwant      %+v", s, want)
	}

	code <- http.StatusNotFound
	err := c.Unshare(context.Background(), "p/q", "bob")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "not shared with bob") {
		t.Fatalf("Unshare of a non-recipient = %v, want ErrNotFound with the server's message", err)
	}
	<-got

	// Not retried once the server saw it: a repeat would answer 404.
	code <- http.StatusBadGateway
	code <- http.StatusNoContent
	if err := c.Unshare(context.Background(), "p/q", "bob"); err == nil {
		t.Fatal("Unshare answered 502: want an error, not a retry")
	}
	<-got
	if n := len(got); n != 0 {
		t.Fatalf("Unshare sent %d more requests after a 502, want none", n)
	}
}

func TestWithTokenSwitchesBearer(t *testing.T) {
	t.Parallel()
	auths := make(chan string, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // never block: an unexpected extra request must fail the test, not hang it
		case auths <- r.Header.Get("Authorization"):
		default:
		}
		switch r.URL.Path {
		case "/api/agents/register":
			writeJSON(w, http.StatusCreated, api.RegisterResponse{AgentID: "a1", Token: "ag_live_new"})
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()

	tok := userToken(t)
	c := newTestClient(t, srv.URL, tok, fastOpts())
	reg, err := c.Register(context.Background(), api.RegisterRequest{Hostname: "h"})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	if err := c.WithToken(reg.Token).Heartbeat(context.Background(), reg.AgentID); err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	if a, b := <-auths, <-auths; a != "Bearer "+tok || b != "Bearer ag_live_new" {
		t.Fatalf("auth headers = %q, %q", a, b)
	}
}

func TestTokenNeverInErrors(t *testing.T) {
	t.Parallel()
	tok := userToken(t)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusUnauthorized, api.Error{Error: "bad token " + r.Header.Get("Authorization")})
	}))
	defer echo.Close()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer hang.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close() // connection refused from now on

	opts := fastOpts()
	opts.Timeout = 200 * time.Millisecond
	var errs []error
	for _, u := range []string{echo.URL, hang.URL, gone.URL} {
		_, err := newTestClient(t, u, tok, opts).Batches(context.Background(), ListOptions{})
		errs = append(errs, err)
	}
	_, err := New("ftp://example.com", tok, opts)
	errs = append(errs, err)
	_, err = New(echo.URL, tok+"\n", opts)
	errs = append(errs, err)
	for i, err := range errs {
		if err == nil {
			t.Fatalf("case %d: want an error", i)
		}
		if strings.Contains(err.Error(), tok) || strings.Contains(err.Error(), tok[len("em_live_"):]) {
			t.Fatalf("case %d: token leaked in %q", i, err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Fatalf("case %d: error is not one line: %q", i, err)
		}
	}
	if !errors.Is(errs[0], ErrUnauthorized) {
		t.Fatalf("echo case: %v, want ErrUnauthorized", errs[0])
	}
}

func TestNewRejectsBadBaseURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"ftp://example.com", "example.com:8420", "", "https://", "http://h/?x=1"} {
		if _, err := New(u, "", Options{}); err == nil {
			t.Errorf("New(%q) succeeded, want error", u)
		}
	}
	c, err := New("https://argus.example.com/prefix/", "", Options{})
	if err != nil || c.base != "https://argus.example.com/prefix" {
		t.Fatalf("New with prefix = %+v, %v", c, err)
	}
}

// A 404 from argus-server carries its JSON error; one from Go's router (a
// route an older server lacks) is plain text. FromArgus tells them apart.
func TestAPIErrorSaysWhetherArgusAnswered(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/known") {
			writeJSON(w, http.StatusNotFound, api.Error{Error: "command cmd_x not found"})
			return
		}
		http.NotFound(w, r) // what the router answers for a route it does not have
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t, srv.URL, userToken(t), fastOpts())
	for path, want := range map[string]bool{"/api/x/known": true, "/api/x/unknown-route": false} {
		err := c.do(context.Background(), call{method: "GET", path: path})
		var ae *APIError
		if !errors.As(err, &ae) || ae.StatusCode != http.StatusNotFound || ae.FromArgus != want {
			t.Errorf("GET %s: %#v, want a 404 with FromArgus %v", path, err, want)
		}
	}
}

// TestObserveSeesEachCallsEnd: Observe gets the final answer of a call
// (after retries), nil when none came, and nothing for a call the caller
// cancelled; SingleAttempt makes one attempt.
func TestObserveSeesEachCallsEnd(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		writeJSON(w, http.StatusBadGateway, api.Error{Error: "no backend"})
	}))
	var seen []int // status per observed call; 0 for none
	opts := fastOpts()
	opts.Observe = func(resp *http.Response) {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		seen = append(seen, code)
	}
	c := newTestClient(t, srv.URL, userToken(t), opts)
	if _, err := c.Runs(t.Context(), RunsOptions{}); err == nil {
		t.Fatal("a 502 answered as success")
	}
	if got := hits.Load(); got != 4 {
		t.Fatalf("server saw %d attempts, want 4 (one and three retries)", got)
	}
	if _, err := c.SingleAttempt().Runs(t.Context(), RunsOptions{}); err == nil {
		t.Fatal("a 502 answered as success")
	}
	if got := hits.Load(); got != 5 {
		t.Fatalf("SingleAttempt: server saw %d attempts in all, want 5", got)
	}
	srv.Close()
	if _, err := c.SingleAttempt().Runs(t.Context(), RunsOptions{}); err == nil {
		t.Fatal("a closed server answered")
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	_, _ = c.Runs(cancelled, RunsOptions{})
	if want := []int{502, 502, 0}; fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("observed %v, want %v (nothing for the cancelled call)", seen, want)
	}
}

// TestRerunCarriesOneIdempotencyKeyAcrossItsRetries: a rerun whose first
// attempt failed on the server's side is retried, with the same key, so
// the server can answer the repeat instead of queueing twice; two reruns
// carry two keys.
func TestRerunCarriesOneIdempotencyKeyAcrossItsRetries(t *testing.T) {
	t.Parallel()
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys = append(keys, r.Header.Get(api.HeaderIdempotencyKey))
		if len(keys) == 1 {
			writeJSON(w, http.StatusInternalServerError, api.Error{Error: "boom"})
			return
		}
		writeJSON(w, http.StatusAccepted, api.Queued{RunID: "r1", CmdID: "c1"})
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, userToken(t), fastOpts())
	if _, err := c.Rerun(t.Context(), "b1", api.RerunRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Rerun(t.Context(), "b1", api.RerunRequest{}); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 || keys[0] == "" || keys[0] != keys[1] || keys[2] == keys[0] {
		t.Fatalf("Idempotency-Keys sent: %q; want the first twice (a retry), then a new one", keys)
	}
}

// TestMayHaveActed: only a failure without an answer, on a connection that
// was made, leaves the caller unsure.
func TestMayHaveActed(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&APIError{StatusCode: 500}, false},
		{fmt.Errorf("rerun: %w", refused), false},
		{context.Canceled, false},
		{fmt.Errorf("rerun: %w", reset), true},
		{fmt.Errorf("rerun: %w", &timeoutError{after: time.Second}), true},
	} {
		if got := MayHaveActed(c.err); got != c.want {
			t.Errorf("MayHaveActed(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
