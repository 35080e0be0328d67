package main_test

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/testenv"
)

// cacheHits reads argus_auth_token_lookups_total{source="cache"} from a
// server's /metrics.
func cacheHits(t *testing.T, s *testenv.Server) float64 {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), `argus_auth_token_lookups_total{source="cache"} `); ok {
			n, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no argus_auth_token_lookups_total{source=\"cache\"} in /metrics")
	return 0
}

// usedFromCache makes requests with tok until one is answered from the
// server's cache of verified tokens (the cache goes live a moment after
// the server starts).
func usedFromCache(t *testing.T, e *testenv.Env, s *testenv.Server, tok string) {
	t.Helper()
	c := e.Client(s, tok, client.Options{RetryMax: -1})
	before := cacheHits(t, s)
	e.WaitFor(10*time.Second, "a request answered from the token cache", func() bool {
		if _, err := c.Batches(context.Background(), client.ListOptions{}); err != nil {
			t.Fatalf("the token before its revocation: %v", err)
		}
		return cacheHits(t, s) > before
	})
}

// TestRevokeWithTheTokenCacheOnSQLite: a token the server has cached is
// refused on the very next request after `argus-server token revoke`,
// another process (it replaces the marker file the server checks).
func TestRevokeWithTheTokenCacheOnSQLite(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	s := e.StartServer(testenv.ServerSpec{})
	tok := e.CreateUser(s, "alice")
	usedFromCache(t, e, s, tok)
	e.Revoke(s, tok)
	if _, err := e.Client(s, tok, client.Options{RetryMax: -1}).Batches(context.Background(), client.ListOptions{}); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("the first request after the revoke: %v, want 401", err)
	}
}

// TestRevokeWithTheTokenCacheAcrossReplicas: two PostgreSQL replicas have
// the token cached; `argus-server token revoke` announces it on the
// replicas' channel, and both refuse it (NOTIFY is delivered
// asynchronously: within a moment, measured and logged).
func TestRevokeWithTheTokenCacheAcrossReplicas(t *testing.T) {
	t.Parallel()
	a, b, alice, _, _ := replicas(t)
	for _, s := range []*serving{a, b} {
		usedFromCache(t, s.env, s.Server, alice)
	}
	a.env.Revoke(a.Server, alice)
	revoked := time.Now()
	for name, s := range map[string]*serving{"A": a, "B": b} {
		c := s.env.Client(s.Server, alice, client.Options{RetryMax: -1})
		s.env.WaitFor(2*time.Second, "replica "+name+" to refuse the revoked token", func() bool {
			_, err := c.Batches(context.Background(), client.ListOptions{})
			return errors.Is(err, client.ErrUnauthorized)
		})
		t.Logf("replica %s refused the revoked token %v after the revoke command returned", name, time.Since(revoked))
	}
}
