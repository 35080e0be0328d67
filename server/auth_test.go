package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
)

func TestAuthRejectsBadTokensAndChangesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	revoked := h.user("mallory")
	agentA, tokA := h.agent(alice, "gpu-01", "", true)
	agentB, _ := h.agent(alice, "gpu-02", "", true)
	h.batch(alice, "mnist", "gpu-01")
	h.revoke(revoked)
	badChecksum := alice[:len(alice)-1] + flip(alice[len(alice)-1])
	truncated := alice[:len(alice)-3]

	before := h.snapshot()
	cases := []struct {
		name, method, path, tok string
		body                    any
		code                    int
	}{
		{"missing token", "GET", "/api/batches", "", nil, 401},
		{"malformed token", "GET", "/api/batches", "not-a-token", nil, 401},
		{"bad checksum", "GET", "/api/batches", badChecksum, nil, 401},
		{"truncated", "GET", "/api/batches", truncated, nil, 401},
		{"revoked user token", "GET", "/api/batches", revoked, nil, 401},
		{"revoked token records nothing", "POST", "/api/batches", revoked, `{"project":"x","env_snapshot":{"command":"true","cwd":"/","host":"h"}}`, 401},
		{"missing token on heartbeat", "POST", "/api/agents/" + agentA + "/heartbeat", "", nil, 401},
		{"agent token on user route", "GET", "/api/batches", tokA, nil, 403},
		{"agent token cannot register", "POST", "/api/agents/register", tokA, `{"hostname":"h"}`, 403},
		{"user token on agent route", "POST", "/api/agents/" + agentA + "/heartbeat", alice, nil, 403},
		{"another agent's heartbeat", "POST", "/api/agents/" + agentB + "/heartbeat", tokA, nil, 403},
		{"another agent's jobs", "GET", "/api/agents/" + agentB + "/jobs", tokA, nil, 403},
		{"another agent's ack", "POST", "/api/agents/" + agentB + "/jobs/cmd_x/ack", tokA, `{"pid":1}`, 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			h.expect(c.code, c.method, c.path, c.tok, c.body)
			h.unchanged(before, c.name)
		})
	}
}

func TestRevokedAgentTokenGets401(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	agentID, tok := h.agent(alice, "gpu-01", "", true)
	h.revoke(tok)
	before := h.snapshot()
	h.expect(401, "POST", "/api/agents/"+agentID+"/heartbeat", tok, nil)
	h.expect(401, "GET", "/api/agents/"+agentID+"/jobs", tok, nil)
	h.unchanged(before, "a revoked agent token")
}

func TestRevokeByID(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	h.expect(200, "GET", "/api/batches", alice, nil)
	tokens, err := h.store.TokenByHash(context.Background(), hashOf(alice))
	if err != nil {
		t.Fatal(err)
	}
	h.revoke(tokens.ID)
	h.expect(401, "GET", "/api/batches", alice, nil)
	if _, err := server.RevokeToken(context.Background(), h.store, "tok_doesnotexist"); err == nil {
		t.Fatal("revoking an unknown id succeeded")
	}
}

// flip returns a different base62 character than c.
func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func TestRegisterRefusesALabelThatIsNoFileName(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	before := h.snapshot()
	for _, label := range []string{"../etc", ".hidden", "a/b", strings.Repeat("x", 65)} {
		h.expect(400, "POST", "/api/agents/register", alice, api.RegisterRequest{Hostname: "h", Label: label})
	}
	h.unchanged(before, "registrations with bad labels")
	h.agent(alice, "h", "gpu-1.a_b", false)
}
