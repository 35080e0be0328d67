package main_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/token"
)

// listedToken is one entry of argus-server token list --json.
type listedToken struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	CreatedAt time.Time  `json:"created_at"`
	LastUsed  *time.Time `json:"last_used_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

// TestTokenCreateAndList: a user whose only token was revoked gets a new
// one with token create, and token list shows both by id, with created,
// last-used and revoked times, and never a token or its hash.
func TestTokenCreateAndList(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	s := e.StartServer(testenv.ServerSpec{})
	ctx := context.Background()
	admin := func(args ...string) testenv.Result {
		t.Helper()
		r, err := s.Admin(ctx, "", args...)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	old := e.CreateUser(s, "alice")
	if _, err := e.Client(s, old, client.Options{RetryMax: -1}).Batches(ctx, client.ListOptions{}); err != nil {
		t.Fatalf("the first token: %v", err)
	}
	e.Revoke(s, old)
	if _, err := e.Client(s, old, client.Options{RetryMax: -1}).Batches(ctx, client.ListOptions{}); err == nil {
		t.Fatal("the revoked token still works")
	}

	r := admin("token", "create", "alice")
	fresh := strings.TrimSuffix(r.Stdout, "\n")
	if r.Code != 0 || r.Stderr != "" || strings.ContainsAny(fresh, " \n") {
		t.Fatalf("token create: %s", r)
	}
	if _, err := token.Parse(fresh); err != nil || token.Kind(fresh[:8]) != token.User {
		t.Fatalf("token create printed %q, not an em_live_ token", fresh)
	}
	if _, err := e.Client(s, fresh, client.Options{RetryMax: -1}).Batches(ctx, client.ListOptions{}); err != nil {
		t.Fatalf("the new token: %v", err)
	}

	secrets := []string{old, fresh, token.Hash(old), token.Hash(fresh)}
	var toks []listedToken
	// Last uses are written behind (within seconds): poll for them.
	e.WaitFor(30*time.Second, "both last uses in token list", func() bool {
		r := admin("token", "list", "--json", "alice")
		noSecrets(t, r, secrets)
		toks = nil
		if err := json.Unmarshal([]byte(r.Stdout), &toks); err != nil || r.Code != 0 {
			t.Fatalf("token list --json: %v\n%s", err, r)
		}
		return len(toks) == 2 && toks[0].LastUsed != nil && toks[1].LastUsed != nil
	})
	first, second := toks[0], toks[1]
	if first.RevokedAt == nil || second.RevokedAt != nil || first.Kind != "user" || second.Kind != "user" {
		t.Fatalf("token list: %+v", toks)
	}
	if !first.CreatedAt.Before(second.CreatedAt) && !first.CreatedAt.Equal(second.CreatedAt) {
		t.Errorf("token list is not oldest first: %+v", toks)
	}
	if time.Since(*second.LastUsed) > time.Minute || first.LastUsed.After(*first.RevokedAt) {
		t.Errorf("last-used times: %+v", toks)
	}

	table := admin("token", "list", "alice")
	noSecrets(t, table, secrets)
	for _, want := range []string{"ID", "LAST USED", "REVOKED", first.ID, second.ID, first.RevokedAt.UTC().Format(time.RFC3339)} {
		if table.Code != 0 || !strings.Contains(table.Stdout, want) {
			t.Fatalf("token list table lacks %q:\n%s", want, table)
		}
	}
}

func noSecrets(t *testing.T, r testenv.Result, secrets []string) {
	t.Helper()
	for _, sec := range secrets {
		if strings.Contains(r.Stdout+r.Stderr, sec) {
			t.Fatalf("token list printed a token or a token hash:\n%s", r)
		}
	}
}

// An unknown user is one line on stderr and a failing exit, for both.
func TestTokenCommandsUnknownUser(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	s := e.StartServer(testenv.ServerSpec{})
	for _, cmd := range []string{"create", "list"} {
		r, err := s.Admin(context.Background(), "", "token", cmd, "nobody")
		if err != nil {
			t.Fatal(err)
		}
		if r.Code == 0 || r.Stdout != "" || strings.Count(r.Stderr, "\n") != 1 || !strings.Contains(r.Stderr, `no such user "nobody"`) {
			t.Errorf("token %s nobody: %s", cmd, r)
		}
	}
}
