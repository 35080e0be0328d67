package server

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// resourceReports keeps the resource reports agents send on their polls
// and heartbeats (api.HeaderResources) and writes the newest of each
// agent behind, every flush interval, in one transaction: a fleet's
// reports cost a few statements per interval, not a write per poll. A
// report is information for the UI; a bad one is dropped, never a reason
// to fail the poll it came with.
type resourceReports struct {
	store store.Store
	log   zerolog.Logger
	quiet func(error) bool // as heartbeats.quiet

	mu      sync.Mutex
	pending map[string]pendingReport // agent id → newest report not yet written
}

// pendingReport is a checked report and when it was sampled; it is
// encoded for the store only when flushed (most are replaced first).
type pendingReport struct {
	res api.Resources
	at  time.Time
}

func newResourceReports(st store.Store, log zerolog.Logger) *resourceReports {
	return &resourceReports{store: st, log: log, pending: map[string]pendingReport{}}
}

// note takes the report an agent's request carries, if any.
func (rr *resourceReports) note(r *http.Request, agentID string, at time.Time) {
	header := r.Header.Get(api.HeaderResources)
	if header == "" {
		return
	}
	res, err := api.ParseResources(header)
	if err != nil {
		rr.log.Debug().Err(err).Str("agent_id", agentID).Msg("resources report dropped")
		return
	}
	// Dated by its age, not the agent's clock; a day is the most any
	// sample is taken to be (older ones read as a day old).
	at = at.Add(-min(time.Duration(res.AgeMS)*time.Millisecond, 24*time.Hour))
	res.AgeMS = 0
	rr.mu.Lock()
	rr.pending[agentID] = pendingReport{res: res, at: at}
	rr.mu.Unlock()
}

// flush writes the pending reports; on failure they are kept for the next
// flush unless a newer report came meanwhile.
func (rr *resourceReports) flush(ctx context.Context) error {
	rr.mu.Lock()
	batch := rr.pending
	rr.pending = make(map[string]pendingReport, len(batch))
	rr.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	// Stored re-encoded: only the fields the server knows, as it checked them.
	reports := make(map[string]store.ResourceReport, len(batch))
	for id, p := range batch {
		b, err := json.Marshal(p.res)
		if err != nil {
			continue // a checked struct of numbers and strings always encodes
		}
		reports[id] = store.ResourceReport{Report: b, At: p.at}
	}
	err := rr.store.SaveResources(ctx, reports)
	if err != nil {
		rr.mu.Lock()
		for id, r := range batch {
			if _, newer := rr.pending[id]; !newer {
				rr.pending[id] = r
			}
		}
		rr.mu.Unlock()
	}
	return err
}

// run flushes every interval until ctx ends, then once more.
func (rr *resourceReports) run(ctx context.Context, every time.Duration) {
	writeBehind{what: "resources", flush: rr.flush, quiet: rr.quiet, log: rr.log}.run(ctx, every)
}

// resourcesOf reads the reports of agents (a page of them) for the API
// and the UI; a report that no longer decodes is left out.
func (s *Server) resourcesOf(ctx context.Context, agentIDs []string) (map[string]*api.Resources, error) {
	stored, err := s.store.Resources(ctx, agentIDs)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*api.Resources, len(stored))
	for id, rep := range stored {
		var res api.Resources
		if json.Unmarshal(rep.Report, &res) != nil {
			continue
		}
		res.SampledAt = rep.At
		out[id] = &res
	}
	return out, nil
}

// FlushResources writes buffered resource reports now (tests; Serve
// flushes on its own).
func (s *Server) FlushResources(ctx context.Context) error { return s.resources.flush(ctx) }

// apiAgents is agents as the API shows them, each with its last report.
func (s *Server) apiAgents(ctx context.Context, agents []store.Agent) ([]api.Agent, error) {
	ids := make([]string, len(agents))
	for i, a := range agents {
		ids[i] = a.ID
	}
	reports, err := s.resourcesOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]api.Agent, len(agents))
	for i, a := range agents {
		out[i] = s.toAPIAgent(a)
		out[i].Resources = reports[a.ID]
	}
	return out, nil
}
