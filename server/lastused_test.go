package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/argus-exec/argus/server"
)

// A token's last use is written behind, and at most once a minute per
// token: requests in between cost no write.
func TestTokenLastUsedWrittenBehind(t *testing.T) {
	clk := &clock{now: time.Now().UTC().Truncate(time.Millisecond)}
	h := newHarness(t, server.Config{Now: clk.Now})
	tok := h.user("alice")
	ctx := context.Background()
	lastUsed := func() *time.Time {
		t.Helper()
		if err := h.srv.FlushTokenUse(ctx); err != nil {
			t.Fatal(err)
		}
		st, err := h.store.TokenByHash(ctx, hashOf(tok))
		if err != nil {
			t.Fatal(err)
		}
		return st.LastUsedAt
	}
	if got := lastUsed(); got != nil {
		t.Fatalf("a token never used has last use %v", got)
	}
	h.expect(401, "GET", "/api/batches", unknownToken(t), nil)
	first := clk.Now()
	h.expect(200, "GET", "/api/batches", tok, nil)
	if got := lastUsed(); got == nil || !got.Equal(first) {
		t.Fatalf("last use after a request = %v, want %v", got, first)
	}
	clk.add(30 * time.Second)
	h.expect(200, "GET", "/api/agents", tok, nil)
	if got := lastUsed(); got == nil || !got.Equal(first) {
		t.Fatalf("a use within a minute was written: %v, want %v", got, first)
	}
	clk.add(31 * time.Second)
	h.login(tok) // a web sign-in is a use too
	if got := lastUsed(); got == nil || !got.Equal(clk.Now()) {
		t.Fatalf("last use a minute later = %v, want %v", got, clk.Now())
	}
}
