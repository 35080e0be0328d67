package server

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// Live output. An agent appends what a run writes while it runs; readers
// (the API, the UI's run page, argus logs -f) hold a request until bytes
// past their offset arrive, woken through the Waker under the run's log
// key, so a line reaches them within one round trip of its append. The
// store keeps the log in pieces and applies the --log-max cap as it
// appends; this file never holds more than one append or one read
// (api.MaxLogRead) of a log in memory.

// logKey is the Waker key of a run's log: it shares the Waker with the
// agents' long-polls, and a prefix keeps the two apart.
func logKey(runID string) string { return "log:" + runID }

// notifyLog wakes readers of a run's log; a lost wake-up only delays them
// to their re-check, so a failure is logged, not returned.
func (s *Server) notifyLog(ctx context.Context, runID string) {
	if err := s.waker.Notify(ctx, logKey(runID)); err != nil {
		s.log.Warn().Err(err).Str("run_id", runID).Msg("could not wake readers of a run's log")
	}
}

// handleAppendLog takes a piece of a run's output from its agent:
// POST /api/agents/{agent_id}/runs/{run_id}/log?offset=N with the raw bytes.
func (s *Server) handleAppendLog(w http.ResponseWriter, r *http.Request) error {
	offset, err := parseOffset(r.URL.Query().Get("offset"))
	if err != nil {
		return err
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/octet-stream" {
		return errorf(http.StatusUnsupportedMediaType, "a log append's body must be application/octet-stream")
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, api.MaxLogChunk))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return errorf(http.StatusRequestEntityTooLarge, "a log append carries at most %d bytes: send the rest in another", api.MaxLogChunk)
	}
	if err != nil {
		return err
	}
	runID := r.PathValue("run_id")
	next, err := s.store.AppendRunLog(r.Context(), r.PathValue("agent_id"), runID, offset, data, max(s.cfg.LogMax, 0))
	switch {
	case errors.Is(err, store.ErrLogGap):
		writeJSON(w, http.StatusConflict, api.LogGap{Error: "the log has fewer bytes than the offset: send from next", Next: next})
		return nil
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, "no run %s on this agent", runID)
	case err != nil:
		return err
	}
	if next > offset {
		s.notifyLog(r.Context(), runID)
	}
	writeJSON(w, http.StatusOK, api.LogAppended{Next: next})
	return nil
}

// handleRunLog serves a run's output to whoever may see the run.
func (s *Server) handleRunLog(w http.ResponseWriter, r *http.Request) error {
	run, err := s.visibleRun(r.Context(), r.PathValue("run_id"), view)
	if err != nil {
		return err
	}
	return s.serveRunLog(w, r, run.ID)
}

// serveRunLog answers GET …/log?offset=N&wait=D for a run the caller may
// see: the bytes from N on (or from the first kept byte after N), held up
// to D while there are none and more may come.
func (s *Server) serveRunLog(w http.ResponseWriter, r *http.Request, runID string) error {
	offset, err := parseOffset(r.URL.Query().Get("offset"))
	if err != nil {
		return err
	}
	wait, err := parseWait(r.URL.Query().Get("wait"), s.cfg.MaxWait)
	if err != nil {
		return err
	}
	var slice store.LogSlice
	err = s.hold(r.Context(), logKey(runID), wait, func() (bool, <-chan time.Time, error) {
		var err error
		slice, err = s.readLog(r.Context(), runID, offset)
		return len(slice.Data) > 0 || logComplete(slice), nil, err
	})
	if err != nil {
		return err
	}
	return writeLog(w, slice)
}

// readLog reads one slice of a run's log. A run that ended without
// streaming anything (its agent predates live output) has its output tail
// as its log.
func (s *Server) readLog(ctx context.Context, runID string, offset int64) (store.LogSlice, error) {
	slice, err := s.store.ReadRunLog(ctx, runID, offset, api.MaxLogRead)
	if err != nil || !slice.Ended || slice.Received > 0 || slice.Size != nil {
		return slice, err
	}
	run, err := s.store.Run(ctx, runID)
	if err != nil {
		return slice, err
	}
	tail := int64(len(run.OutputTail))
	slice.Received, slice.Size = tail, &tail
	if offset < tail {
		slice.Data = []byte(run.OutputTail[offset:])
	}
	return slice, nil
}

// logComplete: the run has ended, everything it will send is there, and
// the reader has it all. (A reader may ask past what was received: that
// alone proves nothing.)
func logComplete(l store.LogSlice) bool {
	if !l.Ended || l.Next() < l.Received {
		return false
	}
	return l.Size == nil || l.Received >= *l.Size
}

func writeLog(w http.ResponseWriter, l store.LogSlice) error {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set(api.HeaderLogOffset, strconv.FormatInt(l.Start, 10))
	h.Set(api.HeaderLogNext, strconv.FormatInt(l.Next(), 10))
	h.Set(api.HeaderLogComplete, strconv.FormatBool(logComplete(l)))
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(l.Data)
	return err
}

// parseOffset reads ?offset=: a byte offset, 0 when absent.
func parseOffset(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errorf(http.StatusBadRequest, "offset must be a whole number of bytes, 0 or more")
	}
	return n, nil
}
