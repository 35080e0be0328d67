package ui

import (
	"context"
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

func (u *UI) handleBatchPage(w http.ResponseWriter, r *http.Request, sess session) error {
	ctx := r.Context()
	b, err := u.core.Batch(ctx, r.PathValue("id"), false)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	pg, err := u.page(q, ListRuns)
	if err != nil {
		return err
	}
	at := batchQuery{id: b.ID, cursor: q.Get("cursor")}
	if q.Get("limit") != "" {
		at.limit = pg.Limit
	}
	runs, more, err := u.core.Runs(ctx, store.RunFilter{BatchID: b.ID}, pg)
	if err != nil {
		return err
	}
	owner := u.name(ctx, b.OwnerID)
	data := struct {
		Batch      batchRow
		Runs       []runRow
		Links      batchLinks
		CanControl bool
		RerunOff   string   // why Rerun is greyed out; empty when it is not
		GPUs       []string // the state of the GPUs of the host a rerun would go to
		HostURL    string   // that host's page, for its owner
	}{Batch: batchRow{Batch: b.API(owner), Command: b.Snapshot.Command.ShellText()}}
	for _, run := range runs {
		data.Runs = append(data.Runs, newRunRow(run, u.core.Now()))
	}
	if more {
		next := u.core.Cursor(ListRuns, runKey(runs[len(runs)-1]))
		data.Links.OlderRuns = batchQuery{id: b.ID, limit: at.limit, cursor: next}.url()
	}
	if at.cursor != "" {
		data.Links.NewestRuns = batchQuery{id: b.ID, limit: at.limit}.url()
	}
	var target store.Agent
	if data.CanControl, data.RerunOff, target, err = u.rerunState(ctx, b, owner, sess.UserID); err != nil {
		return err
	}
	// The host's resources and page are its owner's to see, as in the
	// API: a recipient rerunning a shared batch sees neither.
	if target.ID != "" && target.UserID == sess.UserID {
		data.HostURL = hostURL(target.ID)
		if data.GPUs, err = u.gpuTexts(ctx, target); err != nil {
			return err
		}
	}
	p, err := u.base(r, sess, b.Name)
	if err != nil {
		return err
	}
	p.Refresh, p.Data = at.url(), data
	return u.renderLive(w, r, "batch.html", p)
}

// runKey is a run's place in its list.
func runKey(r api.Run) store.Key { return store.Key{CreatedAt: r.CreatedAt, ID: r.ID} }

// name is a user's name, or the id when it cannot be read (a page is
// still worth showing).
func (u *UI) name(ctx context.Context, id string) string {
	if n, err := u.core.UserName(ctx, id); err == nil {
		return n
	}
	return id
}

// rerunState says whether the user may rerun and stop b's runs, why
// Rerun is greyed out ("" when it is not), and the agent a rerun would
// go to now.
func (u *UI) rerunState(ctx context.Context, b store.Batch, owner, viewer string) (bool, string, store.Agent, error) {
	may, err := u.core.MayControl(ctx, b)
	if err != nil || !may {
		return false, "you may view this batch, but only its owner (" + owner + ") or a recipient of project " + b.Project + " may rerun or stop it", store.Agent{}, err
	}
	// The same test a rerun would make, so the button is greyed out
	// exactly when pressing it would be refused with 409.
	target, ok, err := u.core.RerunTarget(ctx, b)
	if err != nil || !ok {
		if b.OwnerID == viewer {
			return true, "no agent of yours is online on " + b.Snapshot.Host + ": start argus-agent there", store.Agent{}, err
		}
		return true, "no agent of " + owner + " (the batch's owner) is online on " + b.Snapshot.Host + ": ask them to start argus-agent there", store.Agent{}, err
	}
	return true, "", target, nil
}

// gpuTexts is the last reported state of an agent's GPUs, one line each
// ("GPU 0: 97 % busy, 78/80 GB"): what a researcher wants to know before
// pressing Rerun. Information only: a busy GPU does not stop a rerun.
func (u *UI) gpuTexts(ctx context.Context, a store.Agent) ([]string, error) {
	shown, err := u.core.Agents(ctx, []store.Agent{a})
	if err != nil || shown[0].Resources == nil {
		return nil, err
	}
	var out []string
	for _, g := range shown[0].Resources.GPUs {
		out = append(out, g.GPUText())
	}
	return out, nil
}
