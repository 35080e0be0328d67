package server

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// The paged lists: GET /api/batches, /api/runs and /api/agents, and the
// web UI's home page. Each takes ?limit (default 100, at most 1000) and
// ?cursor, and answers next_cursor while another page follows. The store
// pages by keyset (store.Page), with the visibility rules inside its query,
// so a cursor is only a position: whoever sends one sees no more than
// their own first page would have shown them.

const (
	defaultPageLimit = 100
	maxPageLimit     = 1000
	// maxFilterLen bounds a filter value and a cursor's id: ids and project
	// names are far shorter, and a megabyte of "?project=" need not reach
	// the database. A cursor, base64 of an id and a time, gets maxCursorLen.
	maxFilterLen = 256
	maxCursorLen = 512
)

// listKind tags a cursor with the list it came from, so a batches cursor
// sent to /api/runs is refused instead of quietly meaning a position there.
type listKind string

const (
	listBatches listKind = "b"
	listRuns    listKind = "r"
	listAgents  listKind = "a"
)

// encodeCursor makes the opaque cursor for the page after k: base64url of
// "kind.created_at_µs.id". It is not signed; it needs no secret because it
// grants nothing (see above).
func encodeCursor(kind listKind, k store.Key) string {
	raw := string(kind) + "." + strconv.FormatInt(k.CreatedAt.UnixMicro(), 10) + "." + k.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodeCursor reads a cursor of the given list; ok is false for anything
// encodeCursor would not have made for it.
func decodeCursor(kind listKind, c string) (store.Key, bool) {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(c)
	if err != nil {
		return store.Key{}, false
	}
	parts := strings.SplitN(string(raw), ".", 3)
	if len(parts) != 3 || parts[0] != string(kind) || !printable(parts[2]) {
		return store.Key{}, false
	}
	us, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || us < 0 || strconv.FormatInt(us, 10) != parts[1] {
		return store.Key{}, false
	}
	return store.Key{CreatedAt: time.UnixMicro(us).UTC(), ID: parts[2]}, true
}

// printable: a non-empty, bounded string of printable characters, which
// every id this server makes is.
func printable(s string) bool {
	if s == "" || len(s) > maxFilterLen {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// parsePage reads ?limit and ?cursor; a bad one is 400 naming it.
func parsePage(q url.Values, kind listKind) (store.Page, error) {
	p := store.Page{Limit: defaultPageLimit}
	limit, err := single(q, "limit", maxFilterLen)
	if err != nil {
		return p, err
	}
	if limit != "" {
		n, err := strconv.Atoi(limit)
		if err != nil || n < 1 || n > maxPageLimit {
			return p, errorf(http.StatusBadRequest, "limit must be a whole number from 1 to %d (default %d)", maxPageLimit, defaultPageLimit)
		}
		p.Limit = n
	}
	cursor, err := single(q, "cursor", maxCursorLen)
	if err != nil {
		return p, err
	}
	if cursor != "" {
		k, ok := decodeCursor(kind, cursor)
		if !ok {
			return p, errorf(http.StatusBadRequest, "cursor is not one this list handed out: pass next_cursor from the previous page unchanged")
		}
		p.After = &k
	}
	return p, nil
}

// single is a query parameter given at most once, not empty and at most
// maxLen bytes long; "" when absent. Two values would leave the caller
// guessing which one counted, and an empty one is a mistake rather than a
// way to say "no filter" (leave the parameter out for that).
func single(q url.Values, name string, maxLen int) (string, error) {
	vs, ok := q[name]
	switch {
	case !ok:
		return "", nil
	case len(vs) > 1:
		return "", errorf(http.StatusBadRequest, "%s is given more than once", name)
	case vs[0] == "":
		return "", errorf(http.StatusBadRequest, "%s is empty: leave it out instead", name)
	case len(vs[0]) > maxLen:
		return "", errorf(http.StatusBadRequest, "%s is longer than %d bytes", name, maxLen)
	}
	return vs[0], nil
}

// runStatuses are the values ?status takes.
var runStatuses = []api.RunStatus{api.RunQueued, api.RunRunning, api.RunExited, api.RunStopping, api.RunStopped,
	api.RunFailed, api.RunCancelled, api.RunExpired}

// parseRunFilter reads /api/runs' filters. They are checked in a fixed
// order (status, batch, project, agent), so a query with several bad ones
// always gets the same 400, naming the first.
func parseRunFilter(q url.Values) (store.RunFilter, error) {
	var f store.RunFilter
	status, err := single(q, "status", maxFilterLen)
	if err != nil {
		return f, err
	}
	if status != "" {
		if !slices.Contains(runStatuses, api.RunStatus(status)) {
			return f, errorf(http.StatusBadRequest, "status must be one of queued, running, exited, stopping, stopped, failed, cancelled, expired")
		}
		f.Status = api.RunStatus(status)
	}
	for _, p := range []struct {
		name string
		dst  *string
	}{{"batch", &f.BatchID}, {"project", &f.Project}, {"agent", &f.AgentID}} {
		if *p.dst, err = single(q, p.name, maxFilterLen); err != nil {
			return f, err
		}
	}
	return f, nil
}

// nextCursor is the next_cursor of a page whose last item has key last:
// empty (left out of the answer) when no page follows.
func nextCursor(kind listKind, more bool, last func() store.Key) string {
	if !more {
		return ""
	}
	return encodeCursor(kind, last())
}

func (s *Server) handleListBatches(w http.ResponseWriter, r *http.Request) error {
	p, _ := principalFrom(r.Context())
	page, err := parsePage(r.URL.Query(), listBatches)
	if err != nil {
		return err
	}
	batches, more, err := s.store.ListBatches(r.Context(), p.UserID, store.BatchFilter{}, page)
	if err != nil {
		return err
	}
	names := s.userNames(r.Context())
	out := api.BatchList{Batches: make([]api.Batch, 0, len(batches))}
	for _, b := range batches {
		out.Batches = append(out.Batches, b.API(names.of(b.OwnerID)))
	}
	out.NextCursor = nextCursor(listBatches, more, func() store.Key { return batches[len(batches)-1].Key() })
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleListRuns(w http.ResponseWriter, r *http.Request) error {
	p, _ := principalFrom(r.Context())
	q := r.URL.Query()
	page, err := parsePage(q, listRuns)
	if err != nil {
		return err
	}
	filter, err := parseRunFilter(q)
	if err != nil {
		return err
	}
	runs, more, err := s.store.ListRunsForUser(r.Context(), p.UserID, filter, page)
	if err != nil {
		return err
	}
	list, err := s.apiRuns(r.Context(), runs)
	if err != nil {
		return err
	}
	out := api.RunList{Runs: list}
	out.NextCursor = nextCursor(listRuns, more, func() store.Key { return runs[len(runs)-1].Key() })
	writeJSON(w, http.StatusOK, out)
	return nil
}

// batchRuns is one page of a batch the user may see: its runs newest
// first, and the cursor of GET /api/runs?batch= for the next page ("" on
// the last). A batch holds as many runs as it was rerun times, each with
// up to 64 KiB of output, so it is never read whole.
func (s *Server) batchRuns(ctx context.Context, userID, batchID string, page store.Page) ([]store.Run, string, error) {
	runs, more, err := s.store.ListRunsForUser(ctx, userID, store.RunFilter{BatchID: batchID}, page)
	if err != nil {
		return nil, "", err
	}
	return runs, nextCursor(listRuns, more, func() store.Key { return runs[len(runs)-1].Key() }), nil
}

func (s *Server) handleListAgents(w http.ResponseWriter, r *http.Request) error {
	p, _ := principalFrom(r.Context())
	page, err := parsePage(r.URL.Query(), listAgents)
	if err != nil {
		return err
	}
	agents, more, err := s.store.ListAgents(r.Context(), p.UserID, page)
	if err != nil {
		return err
	}
	list, err := s.apiAgents(r.Context(), agents)
	if err != nil {
		return err
	}
	out := api.AgentList{Agents: list}
	out.NextCursor = nextCursor(listAgents, more, func() store.Key { return agents[len(agents)-1].Key() })
	writeJSON(w, http.StatusOK, out)
	return nil
}
