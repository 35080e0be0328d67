package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/token"
)

// projectPattern keeps project names usable in URL paths.
var projectPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func (s *Server) handleCreateBatch(w http.ResponseWriter, r *http.Request) error {
	p, _ := principalFrom(r.Context())
	var req api.CreateBatchRequest
	if err := s.decode(w, r, &req, false); err != nil {
		return err
	}
	if err := s.ownDefaultProject(r.Context(), p.UserID, &req); err != nil {
		return err
	}
	if err := validateBatch(&req); err != nil {
		return err
	}
	b := store.Batch{
		ID: newID("bat"), OwnerID: p.UserID, Project: req.Project, Name: req.Name,
		Snapshot: req.EnvSnapshot, CreatedAt: s.cfg.Now().UTC(),
	}
	err := s.store.CreateBatch(r.Context(), b)
	if errors.Is(err, store.ErrForbidden) {
		return errorf(http.StatusForbidden, "project %s belongs to another user who has not shared it with you", req.Project)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, api.Created{ID: b.ID})
	return nil
}

// defaultPrefix starts the name of each user's own default project,
// default-<user>: one global "default" would belong to whoever recorded in
// it first and refuse everyone else.
const defaultPrefix = "default-"

// ownDefaultProject turns an empty or "default" project into the caller's
// own default-<name>, and refuses another user's default-… name.
func (s *Server) ownDefaultProject(ctx context.Context, userID string, req *api.CreateBatchRequest) error {
	if req.Project != "" && req.Project != "default" && !strings.HasPrefix(req.Project, defaultPrefix) {
		return nil
	}
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	own := defaultPrefix + u.Name
	if req.Project == "" || req.Project == "default" {
		req.Project = own
		return nil
	}
	if req.Project != own {
		return errorf(http.StatusBadRequest, "project names starting with %q are each user's default project; yours is %s (or leave the project out)", defaultPrefix, own)
	}
	return nil
}

func validateBatch(req *api.CreateBatchRequest) error {
	if !projectPattern.MatchString(req.Project) {
		return errorf(http.StatusBadRequest, "project must be 1-128 of A-Z a-z 0-9 . _ - and start with a letter or digit")
	}
	snap := req.EnvSnapshot
	switch {
	case snap.Command.IsZero():
		return errorf(http.StatusBadRequest, "env_snapshot.command is required (argv list or shell string)")
	case strings.TrimSpace(snap.Host) == "":
		return errorf(http.StatusBadRequest, "env_snapshot.host is required: reruns go to an agent on that host")
	case snap.Cwd == "":
		return errorf(http.StatusBadRequest, "env_snapshot.cwd is required")
	}
	if err := checkBatchLimits(req); err != nil {
		return err
	}
	if field := tokenField(req); field != "" {
		// Recipients can read a batch: a live token recorded in it would
		// hand them its owner's identity. The value is never echoed.
		return errorf(http.StatusBadRequest, "%s holds an Argus token (em_live_/ag_live_): record the batch without it", field)
	}
	if req.Name == "" {
		req.Name = req.Project
	}
	return nil
}

// tokenField names the first field of a batch that holds a well-formed
// token, or "" when none does.
func tokenField(req *api.CreateBatchRequest) string {
	snap := req.EnvSnapshot
	for i, a := range snap.Command.Argv {
		if token.Holds(a) {
			return fmt.Sprintf("env_snapshot.command[%d]", i)
		}
	}
	for k, v := range snap.Env {
		switch {
		case token.Holds(k):
			return "a variable name in env_snapshot.env" // the name is the token: not echoed
		case token.Holds(v):
			return fmt.Sprintf("env_snapshot.env[%s]", k)
		}
	}
	for field, v := range map[string]string{"env_snapshot.command": snap.Command.Shell, "env_snapshot.cwd": snap.Cwd,
		"env_snapshot.host": snap.Host, "name": req.Name, "project": req.Project} {
		if token.Holds(v) {
			return field
		}
	}
	return ""
}

// visibleBatch loads a batch the caller may use as wanted: 404 when it
// does not exist, 403 when it belongs to someone who has not shared it.
func (s *Server) visibleBatch(ctx context.Context, id string, want access) (store.Batch, error) {
	p, _ := principalFrom(ctx)
	b, err := s.store.Batch(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return b, errorf(http.StatusNotFound, "no batch %s", id)
	}
	if err != nil {
		return b, err
	}
	ok, err := s.mayUseBatch(ctx, p.UserID, b, want)
	if err != nil {
		return b, err
	}
	if !ok && want == control {
		return b, errorf(http.StatusForbidden, "only the owner of batch %s or a recipient of its project may rerun or stop it", id)
	}
	if !ok {
		return b, errorf(http.StatusForbidden, "batch %s belongs to another user and its project is not shared with you", id)
	}
	return b, nil
}

func (s *Server) handleGetBatch(w http.ResponseWriter, r *http.Request) error {
	b, err := s.visibleBatch(r.Context(), r.PathValue("id"), view)
	if err != nil {
		return err
	}
	p, _ := principalFrom(r.Context())
	runs, next, err := s.batchRuns(r.Context(), p.UserID, b.ID, store.Page{Limit: defaultPageLimit})
	if err != nil {
		return err
	}
	out := b.API(s.userNames(r.Context()).of(b.OwnerID))
	if out.Runs, err = s.apiRuns(r.Context(), runs); err != nil {
		return err
	}
	out.RunsNextCursor = next
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleShare(w http.ResponseWriter, r *http.Request) error {
	p, _ := principalFrom(r.Context())
	name := r.PathValue("project")
	var req api.ShareRequest
	if err := s.decode(w, r, &req, false); err != nil {
		return err
	}
	if req.User == "" {
		return errorf(http.StatusBadRequest, `user is required: {"user": "bob"}`)
	}
	if err := checkLine("user", req.User, api.MaxUserName); err != nil {
		return err
	}
	proj, u, err := s.ownProjectAndUser(r.Context(), p.UserID, name, req.User, "share")
	if err != nil {
		return err
	}
	if u.ID == proj.OwnerID {
		return errorf(http.StatusBadRequest, "%s owns project %s: share it with someone else", req.User, name)
	}
	if err := s.store.AddRecipient(r.Context(), name, u.ID); err != nil {
		return err
	}
	if proj, err = s.store.Project(r.Context(), name); err != nil {
		return err
	}
	names := s.userNames(r.Context())
	out := api.Project{Name: proj.Name, Owner: names.of(proj.OwnerID), Recipients: []string{}}
	for _, id := range proj.RecipientIDs {
		out.Recipients = append(out.Recipients, names.of(id))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// handleUnshare revokes a share: only the project's owner may, and the
// former recipient loses access at once (every request checks the store).
func (s *Server) handleUnshare(w http.ResponseWriter, r *http.Request) error {
	p, _ := principalFrom(r.Context())
	name, userName := r.PathValue("project"), r.PathValue("user")
	_, u, err := s.ownProjectAndUser(r.Context(), p.UserID, name, userName, "unshare")
	if err != nil {
		return err
	}
	err = s.store.RemoveRecipient(r.Context(), name, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "project %s is not shared with %s", name, userName)
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ownProjectAndUser is what sharing and unsharing both check first: the
// project exists (404), the caller owns it (403, naming verb), and the
// user named exists (404).
func (s *Server) ownProjectAndUser(ctx context.Context, callerID, project, userName, verb string) (store.Project, store.User, error) {
	proj, err := s.ownProject(ctx, callerID, project, verb)
	if err != nil {
		return proj, store.User{}, err
	}
	u, err := s.store.UserByName(ctx, userName)
	if errors.Is(err, store.ErrNotFound) {
		return proj, u, errorf(http.StatusNotFound, "no user %s", userName)
	}
	return proj, u, err
}

// userNames resolves user ids to names once per request.
type nameCache struct {
	ctx   context.Context
	store store.Store
	seen  map[string]string
}

func (s *Server) userNames(ctx context.Context) *nameCache {
	return &nameCache{ctx: ctx, store: s.store, seen: map[string]string{}}
}

func (c *nameCache) of(id string) string {
	if n, ok := c.seen[id]; ok {
		return n
	}
	n := id
	if u, err := c.store.UserByID(c.ctx, id); err == nil {
		n = u.Name
	}
	c.seen[id] = n
	return n
}
