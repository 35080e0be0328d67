package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/argus-exec/argus/server/api"
)

// routes is the whole URL space. The JSON routes, their methods, bodies and
// status codes are fixed by the OpenAPI document server/api/openapi.yaml
// (served below at GET /api/openapi.yaml); the tests check every route here
// against it, so a route added here must be added there too.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	agent := func(h handlerFunc) http.HandlerFunc { return s.wrap(s.requireAgent(h)) }
	user := func(h handlerFunc) http.HandlerFunc { return s.wrap(s.requireUser(h)) }

	mux.HandleFunc("POST /api/agents/register", user(s.handleRegister))
	mux.HandleFunc("GET /api/agents/{agent_id}/jobs", agent(s.handleJobs))
	mux.HandleFunc("POST /api/agents/{agent_id}/jobs/{cmd_id}/ack", agent(s.handleAck))
	mux.HandleFunc("POST /api/agents/{agent_id}/jobs/{cmd_id}/start", agent(s.handleStart))
	mux.HandleFunc("POST /api/agents/{agent_id}/heartbeat", agent(s.handleHeartbeat))
	mux.HandleFunc("POST /api/agents/{agent_id}/offline", agent(s.handleOffline))
	mux.HandleFunc("POST /api/agents/{agent_id}/restarted", agent(s.handleRestarted))
	mux.HandleFunc("POST /api/agents/{agent_id}/runs/{run_id}/exit", agent(s.handleExit))
	mux.HandleFunc("POST /api/agents/{agent_id}/runs/{run_id}/log", agent(s.handleAppendLog))

	mux.HandleFunc("POST /api/batches", user(s.handleCreateBatch))
	mux.HandleFunc("GET /api/batches", user(s.handleListBatches))
	mux.HandleFunc("GET /api/batches/{id}", user(s.handleGetBatch))
	mux.HandleFunc("POST /api/batches/{id}/rerun", user(s.handleRerun))
	mux.HandleFunc("GET /api/runs", user(s.handleListRuns))
	mux.HandleFunc("GET /api/runs/{run_id}", user(s.handleGetRun))
	mux.HandleFunc("GET /api/runs/{run_id}/log", user(s.handleRunLog))
	mux.HandleFunc("POST /api/runs/{run_id}/stop", user(s.handleStop))
	mux.HandleFunc("GET /api/agents", user(s.handleListAgents))
	mux.HandleFunc("GET /api/diagnostics", user(s.handleDiagnostics))
	mux.HandleFunc("POST /api/projects/{project}/recipients", user(s.handleShare))
	mux.HandleFunc("DELETE /api/projects/{project}/recipients/{user}", user(s.handleUnshare))
	mux.HandleFunc("POST /api/projects/{project}/webhooks", user(s.handleCreateWebhook))
	mux.HandleFunc("GET /api/projects/{project}/webhooks", user(s.handleListWebhooks))
	mux.HandleFunc("DELETE /api/projects/{project}/webhooks/{id}", user(s.handleDeleteWebhook))
	mux.HandleFunc("GET /api/openapi.yaml", s.wrap(s.handleOpenAPI))

	s.ui.Register(mux) // the web UI: package ui, over uiCore (uicore.go)

	mux.HandleFunc("GET /healthz", s.wrap(s.handleHealth))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	return s.underBase(s.observe(mux))
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	if err := s.store.Ping(r.Context()); err != nil {
		s.log.Error().Err(err).Msg("health check: store does not answer")
		return errorf(http.StatusServiceUnavailable, "store unavailable")
	}
	if err := s.health.check(r.Context()); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// handleOpenAPI serves the API's own description, unauthenticated: it holds
// no secret, and a client should be able to read it before it has a token.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/yaml")
	_, err := w.Write(api.OpenAPI)
	return err
}
