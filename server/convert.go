package server

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
	"time"
	"unicode/utf8"

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

func toAPIRun(r store.Run) api.Run {
	return api.Run{
		ID: r.ID, BatchID: r.BatchID, AgentID: r.AgentID, Status: r.Status, PID: r.PID,
		ExitCode: r.ExitCode, Signal: r.Signal, ExitUnknown: r.ExitUnknown, LeftProcesses: r.LeftProcesses, Error: r.Error,
		OutputTail: api.ValidText(r.OutputTail), RerunCmdID: r.RerunCmdID, StopCmdID: r.StopCmdID,
		StopOutcome: r.StopOutcome, CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, EndedAt: r.EndedAt,
		RequestedBy: r.RequestedBy, StoppedBy: r.StoppedBy, StopReason: r.StopReason,
		Timeout: durationText(r.Timeout),
		// The exact bytes only when the text is not them: most output is
		// UTF-8, and lists of runs should not carry it twice.
		OutputTailB64: exactBytes(r.OutputTail),
	}
}

// exactBytes is output as bytes when api.ValidText would change it, else nil.
func exactBytes(output string) []byte {
	if utf8.ValidString(output) {
		return nil
	}
	return []byte(output)
}

// durationText is d as a Go duration, or "" for none.
func durationText(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return d.String()
}

func toAPIBatch(b store.Batch, owner string) api.Batch {
	return api.Batch{
		ID: b.ID, Project: b.Project, Name: b.Name, Owner: owner,
		EnvSnapshot: b.Snapshot, CreatedAt: b.CreatedAt,
	}
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
