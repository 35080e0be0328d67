package client

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"7", 7 * time.Second, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
	}
	for _, tc := range cases {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBackoffGrowsWithJitterAndCap(t *testing.T) {
	t.Parallel()
	lo, hi := 100*time.Millisecond, time.Second
	for attempt, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		for range 50 {
			d := backoff(lo, hi, attempt, nil)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: backoff %v outside [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
	if d := backoff(lo, hi, 1000, nil); d < hi/2 || d > hi {
		t.Fatalf("huge attempt: backoff %v not capped", d)
	}
}

func TestBackoffUsesRetryAfterCapped(t *testing.T) {
	t.Parallel()
	resp := &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"2"}}}
	if d := backoff(time.Millisecond, 10*time.Second, 0, resp); d != 2*time.Second {
		t.Fatalf("backoff = %v, want Retry-After 2s", d)
	}
	if d := backoff(time.Millisecond, time.Second, 0, resp); d != time.Second {
		t.Fatalf("backoff = %v, want capped at 1s", d)
	}
	resp.StatusCode = http.StatusBadGateway // Retry-After only counts on 429/503
	if d := backoff(time.Millisecond, 10*time.Second, 0, resp); d > time.Millisecond {
		t.Fatalf("backoff = %v, want exponential", d)
	}
}

func TestRetryPolicyUnsafeDialOnly(t *testing.T) {
	t.Parallel()
	dialErr := net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	readErr := net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}
	unsafe := context.WithValue(context.Background(), unsafeCallKey{}, true)
	retry, _ := retryPolicy(unsafe, nil, &dialErr)
	if !retry {
		t.Fatal("unsafe call not retried after a dial error")
	}
	retry, _ = retryPolicy(unsafe, nil, &readErr)
	if retry {
		t.Fatal("unsafe call retried after the request may have been sent")
	}
	retry, _ = retryPolicy(context.Background(), nil, &readErr)
	if !retry {
		t.Fatal("safe call not retried after a network error")
	}
}

func TestLoggerAdapterLogsRetries(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	srv := unavailableOnce(t)
	opts := fastOpts()
	opts.Logger = zerolog.New(&buf).Level(zerolog.DebugLevel)
	tok := userToken(t)
	if err := newTestClient(t, srv.URL, tok, opts).Heartbeat(context.Background(), "a1"); err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	out := buf.String()
	if !strings.Contains(out, "retrying request") || !strings.Contains(out, `"level":"debug"`) {
		t.Fatalf("log lacks retry lines:\n%s", out)
	}
	if strings.Contains(out, tok) {
		t.Fatal("token leaked into the log")
	}
}

// unavailableOnce is a server that answers 503 to the first request and
// 204 to every other: one retry's worth of trouble.
func unavailableOnce(t *testing.T) *httptest.Server {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// countingTransport counts the attempts it sends on.
type countingTransport struct{ n atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func TestOptionsTransportSendsEveryAttempt(t *testing.T) {
	t.Parallel()
	srv := unavailableOnce(t)
	tr := &countingTransport{}
	opts := fastOpts()
	opts.Transport = tr
	if err := newTestClient(t, srv.URL, userToken(t), opts).Heartbeat(context.Background(), "a1"); err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	if got := tr.n.Load(); got != 2 {
		t.Fatalf("Transport sent %d attempts, want 2 (one retry)", got)
	}
	opts.InsecureSkipVerify = true
	if _, err := New(srv.URL, "", opts); err == nil || !strings.Contains(err.Error(), "Transport") {
		t.Fatalf("New with Transport and InsecureSkipVerify: %v, want an error", err)
	}
}
