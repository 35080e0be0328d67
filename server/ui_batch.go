package server

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// batchQuery is the batch page's place in its runs: a page size and the
// cursor of the page shown (both empty on the first page).
type batchQuery struct {
	id     string
	limit  int // 0: the default, left out of links
	cursor string
}

// url is the batch page at q, built from validated parts only (it lands in
// links and in the meta refresh).
func (q batchQuery) url() string {
	v := url.Values{}
	if q.limit != 0 {
		v.Set("limit", strconv.Itoa(q.limit))
	}
	if q.cursor != "" {
		v.Set("cursor", q.cursor)
	}
	u := "/ui/batches/" + url.PathEscape(q.id)
	if len(v) == 0 {
		return u
	}
	return u + "?" + v.Encode()
}

// batchLinks are the runs table's paging links; empty ones are not shown.
type batchLinks struct {
	OlderRuns, NewestRuns string
}

func (s *Server) handleBatchPage(w http.ResponseWriter, r *http.Request, sess session) error {
	ctx := r.Context()
	b, err := s.visibleBatch(ctx, r.PathValue("id"), view)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	page, err := parsePage(q, listRuns)
	if err != nil {
		return err
	}
	at := batchQuery{id: b.ID, cursor: q.Get("cursor")}
	if q.Get("limit") != "" {
		at.limit = page.Limit
	}
	runs, next, err := s.batchRuns(ctx, sess.UserID, b.ID, page)
	if err != nil {
		return err
	}
	owner := s.userNames(ctx).of(b.OwnerID)
	data := struct {
		Batch      batchRow
		Runs       []runRow
		Links      batchLinks
		CanControl bool
		RerunOff   string   // why Rerun is greyed out; empty when it is not
		GPUs       []string // the state of the GPUs of the host a rerun would go to
		HostURL    string   // that host's page, for its owner
	}{Batch: batchRow{Batch: toAPIBatch(b, owner), Command: b.Snapshot.Command.ShellText()}}
	shown := make([]api.Run, 0, len(runs))
	for _, run := range runs {
		shown = append(shown, toAPIRun(run))
	}
	if err := s.describeRuns(ctx, shown); err != nil {
		return err
	}
	for _, run := range shown {
		data.Runs = append(data.Runs, newRunRow(run, s.cfg.Now()))
	}
	if next != "" {
		data.Links.OlderRuns = batchQuery{id: b.ID, limit: at.limit, cursor: next}.url()
	}
	if at.cursor != "" {
		data.Links.NewestRuns = batchQuery{id: b.ID, limit: at.limit}.url()
	}
	var target store.Agent
	if data.CanControl, data.RerunOff, target, err = s.rerunState(ctx, sess.UserID, b, owner); err != nil {
		return err
	}
	if data.GPUs, err = s.gpuTexts(ctx, target.ID); err != nil {
		return err
	}
	if target.ID != "" && target.UserID == sess.UserID {
		data.HostURL = hostURL(target.ID)
	}
	p := s.base(r, sess, b.Name)
	p.Refresh = at.url()
	p.Data = data
	return s.render(w, http.StatusOK, "batch.html", p)
}

// rerunState says whether the user may rerun and stop b's runs, why
// Rerun is greyed out ("" when it is not), and the agent a rerun would
// go to now.
func (s *Server) rerunState(ctx context.Context, userID string, b store.Batch, owner string) (bool, string, store.Agent, error) {
	may, err := s.mayUseBatch(ctx, userID, b, control)
	if err != nil || !may {
		return false, "you may view this batch, but only its owner (" + owner + ") or a recipient of project " + b.Project + " may rerun or stop it", store.Agent{}, err
	}
	target, err := s.pickAgent(ctx, b, "")
	if err != nil {
		var he *httpError
		if !errors.As(err, &he) || he.code != http.StatusConflict {
			return true, "", target, err
		}
		// The same test a rerun would make, so the button is greyed out
		// exactly when pressing it would be refused with 409.
		return true, "no agent of " + owner + " is online on " + b.Snapshot.Host + ": start argus-agent there", store.Agent{}, nil
	}
	return true, "", target, nil
}

// gpuTexts is the last reported state of an agent's GPUs, one line each
// ("GPU 0: 97 % busy, 78/80 GB"): what a researcher wants to know before
// pressing Rerun. Information only: a busy GPU does not stop a rerun.
func (s *Server) gpuTexts(ctx context.Context, agentID string) ([]string, error) {
	if agentID == "" {
		return nil, nil
	}
	reports, err := s.resourcesOf(ctx, []string{agentID})
	if err != nil || reports[agentID] == nil {
		return nil, err
	}
	var out []string
	for _, g := range reports[agentID].GPUs {
		out = append(out, g.GPUText())
	}
	return out, nil
}
