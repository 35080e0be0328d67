package server

import (
	"crypto/rand"
	"encoding/base32"
	"strings"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID makes a prefixed random id such as run_3jq6v7m2xk4tq5wzab2c
// (100 bits): unguessable, so ids never stand in for authorisation, and
// the prefix says what an id names when it turns up in a log.
func newID(prefix string) string {
	b := make([]byte, 13)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return prefix + "_" + strings.ToLower(idEncoding.EncodeToString(b))[:20]
}

func (s *Server) toAPIAgent(a store.Agent) api.Agent {
	out := api.Agent{
		ID: a.ID, Hostname: a.Hostname, Label: a.Label, OS: a.OS, Arch: a.Arch,
		Version: a.Version, Properties: a.Properties, Online: s.online(a), Revoked: a.Revoked, CreatedAt: a.CreatedAt,
	}
	if !a.LastHeartbeat.IsZero() {
		hb := a.LastHeartbeat
		out.LastHeartbeat = &hb
	}
	return out
}
