package server

import (
	"net/http"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// handleDiagnostics is GET /api/diagnostics: the caller's agents (paged
// like GET /api/agents) with what the server knows of their link: last
// heartbeat, this replica's last poll and whether it holds one now, and
// their commands not yet acked by state.
func (s *Server) handleDiagnostics(w http.ResponseWriter, r *http.Request) error {
	p, _ := principalFrom(r.Context())
	page, err := parsePage(r.URL.Query(), listAgents)
	if err != nil {
		return err
	}
	agents, more, err := s.store.ListAgents(r.Context(), p.UserID, page)
	if err != nil {
		return err
	}
	ids := make([]string, len(agents))
	for i, a := range agents {
		ids[i] = a.ID
	}
	counts, err := s.store.CommandCounts(r.Context(), ids)
	if err != nil {
		return err
	}
	out := api.Diagnostics{Agents: make([]api.AgentDiagnostics, 0, len(agents))}
	for _, a := range agents {
		shown := s.toAPIAgent(a)
		d := api.AgentDiagnostics{
			ID: a.ID, Hostname: a.Hostname, Label: a.Label, Version: a.Version, Online: shown.Online,
			LastHeartbeat: shown.LastHeartbeat, PollHeld: s.beats.isHeld(a.ID), Commands: map[string]int{},
		}
		if at, ok := s.lastPolls.Load(a.ID); ok {
			t := at.(time.Time)
			d.LastPoll = &t
		}
		for state, n := range counts[a.ID] {
			d.Commands[string(state)] = n
		}
		out.Agents = append(out.Agents, d)
	}
	out.NextCursor = nextCursor(listAgents, more, func() store.Key { return agents[len(agents)-1].Key() })
	writeJSON(w, http.StatusOK, out)
	return nil
}
