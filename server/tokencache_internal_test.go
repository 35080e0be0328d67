package server

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/store"
)

// The cache answers only while live and heard, within its TTL, for tokens
// found unrevoked, and forgets everything at a flush, a lost listener or a
// replaced marker file; a lookup that raced a flush is not kept.
func TestTokenCache(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "argus.db-revoked")
	c := newTokenCache(10*time.Second, 3, marker)
	now := time.Now()
	tok := store.Token{ID: "tok-1", Hash: "h1"}
	hit := func(hash string, heard bool) bool {
		_, ok := c.get(hash, now, heard)
		return ok
	}

	c.put("h1", tok, c.generation(), now)
	if hit("h1", true) {
		t.Fatal("a cache not yet live answered")
	}
	c.setLive(true)
	c.put("h1", tok, c.generation(), now)
	if !hit("h1", true) {
		t.Fatal("a live cache missed a token it was given")
	}
	if _, ok := c.get("h1", now.Add(11*time.Second), true); ok {
		t.Fatal("an entry past its TTL answered")
	}
	gen := c.generation()
	c.flush()
	if hit("h1", true) {
		t.Fatal("an entry survived a flush")
	}
	c.put("h1", tok, gen, now) // looked up before the flush
	if hit("h1", true) {
		t.Fatal("a lookup that raced a revocation was kept")
	}
	revoked := now
	c.put("h2", store.Token{ID: "tok-2", Hash: "h2", RevokedAt: &revoked}, c.generation(), now)
	if hit("h2", true) {
		t.Fatal("a revoked token was kept")
	}

	c.put("h1", tok, c.generation(), now)
	if hit("h1", false) || hit("h1", true) {
		t.Fatal("the cache answered while revocations went unheard, or kept entries from then")
	}

	c.put("h1", tok, c.generation(), now)
	if err := os.WriteFile(marker, []byte("1"), 0o600); err != nil {
		t.Fatal(err)
	}
	if hit("h1", true) {
		t.Fatal("an entry survived a new marker file")
	}
	c.put("h1", tok, c.generation(), now)
	if !hit("h1", true) {
		t.Fatal("the cache stopped answering after taking in the marker")
	}
	if err := os.Rename(writeTemp(t, marker), marker); err != nil {
		t.Fatal(err)
	}
	if hit("h1", true) {
		t.Fatal("an entry survived a replaced marker file")
	}

	for _, h := range []string{"a", "b", "c", "d"} {
		c.put(h, store.Token{ID: h, Hash: h}, c.generation(), now)
	}
	if len(c.entries) > 3 {
		t.Fatalf("%d entries over a bound of 3", len(c.entries))
	}
}

func writeTemp(t *testing.T, near string) string {
	t.Helper()
	p := near + ".tmp"
	if err := os.WriteFile(p, []byte("2"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
