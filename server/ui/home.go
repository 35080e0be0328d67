package ui

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// The home page: the user's recent runs across every batch they may see,
// their hosts (with the hosts of their batches that have no agent at
// all), and the batches with how their last run went. A filter (project,
// host, status) narrows runs and batches; each list pages on its own.

type hostRow struct {
	api.Agent
	LastSeen time.Time
	GPUs     string // "2 GPUs, 1 busy"; "" for none reported
}

// hostWithoutAgent is a host of the user's batches with no agent.
type hostWithoutAgent struct{ Hostname, Why string }

type batchRow struct {
	api.Batch
	Command string
	Runs    int     // how many times it was rerun
	Last    *runRow // its newest run; nil before the first
}

// homeQuery is where the home page is: the filter, one page size for the
// three lists, and a cursor each.
type homeQuery struct {
	limit                  int // 0: the default, left out of links
	project, host, status  string
	runs, batches, hostsAt string // cursors: runs_cursor, cursor, hosts_cursor
}

// url is the home page at q, built from validated parts only (it lands in
// links and in the refresh).
func (q homeQuery) url() string {
	limit := ""
	if q.limit != 0 {
		limit = strconv.Itoa(q.limit)
	}
	return withQuery("/", "project", q.project, "host", q.host, "status", q.status, "limit", limit,
		"runs_cursor", q.runs, "cursor", q.batches, "hosts_cursor", q.hostsAt)
}

// filtered is q back at the first page of every list.
func (q homeQuery) filtered() homeQuery {
	return homeQuery{limit: q.limit, project: q.project, host: q.host, status: q.status}
}

// homeLinks are the home page's paging links; empty ones are not shown.
type homeLinks struct {
	OlderRuns, OlderHosts, OlderBatches, Newest, Clear string
}

// homeView is what home.html shows besides the layout.
type homeView struct {
	Filter       homeFilter
	Runs         []runListRow
	Hosts        []hostRow
	NoAgentHosts []hostWithoutAgent
	Batches      []batchRow
	Links        homeLinks
}

// homeFilter is the filter form's state.
type homeFilter struct {
	Project, Host, Status string
	Statuses              []api.RunStatus
	Active                bool
	Limit                 int // the page size to keep when the filter is applied; 0: the default
}

func (u *UI) handleHome(w http.ResponseWriter, r *http.Request, sess session) error {
	ctx := r.Context()
	at, pages, err := u.parseHomeQuery(r.URL.Query())
	if err != nil {
		return err
	}
	v := homeView{Filter: homeFilter{Project: at.project, Host: at.host, Status: at.status, Statuses: u.core.Statuses(),
		Active: at.project != "" || at.host != "" || at.status != "", Limit: at.limit}}
	if err := u.homeRuns(ctx, sess.UserID, at, pages[0], &v); err != nil {
		return err
	}
	if err := u.homeHosts(ctx, sess.UserID, at, pages[1], &v); err != nil {
		return err
	}
	if err := u.homeBatches(ctx, sess.UserID, at, pages[2], &v); err != nil {
		return err
	}
	if at.runs != "" || at.batches != "" || at.hostsAt != "" {
		v.Links.Newest = at.filtered().url()
	}
	if v.Filter.Active {
		v.Links.Clear = homeQuery{limit: at.limit}.url()
	}
	p, err := u.base(r, sess, "Home")
	if err != nil {
		return err
	}
	p.Refresh, p.Data = at.url(), v
	return u.renderLive(w, r, "home.html", p)
}

// maxFilter bounds a filter field, as the form's maxlength does (a host
// name may be 255 bytes).
const maxFilter = 255

// parseHomeQuery reads the filter and the three lists' pages (runs,
// hosts, batches). A form sends empty fields for filters left blank:
// here they mean "any".
func (u *UI) parseHomeQuery(q url.Values) (homeQuery, [3]store.Page, error) {
	var at homeQuery
	var pages [3]store.Page
	at.project, at.host, at.status = strings.TrimSpace(q.Get("project")), strings.TrimSpace(q.Get("host")), q.Get("status")
	if len(at.project) > maxFilter || len(at.host) > maxFilter {
		return at, pages, refuse(http.StatusBadRequest, "a filter is longer than %d bytes", maxFilter)
	}
	if at.status != "" && !slices.Contains(u.core.Statuses(), api.RunStatus(at.status)) {
		return at, pages, refuse(http.StatusBadRequest, "there is no run status %q", at.status)
	}
	for i, list := range []struct {
		name, param string
		dst         *string
	}{{ListRuns, "runs_cursor", &at.runs}, {ListAgents, "hosts_cursor", &at.hostsAt}, {ListBatches, "cursor", &at.batches}} {
		one := only(q, "limit")
		if c := q.Get(list.param); c != "" {
			one.Set("cursor", c)
		}
		var err error
		if pages[i], err = u.page(one, list.name); err != nil {
			return at, pages, err
		}
		*list.dst = q.Get(list.param)
	}
	if q.Get("limit") != "" {
		at.limit = pages[0].Limit
	}
	return at, pages, nil
}

func (u *UI) homeRuns(ctx context.Context, userID string, at homeQuery, pg store.Page, v *homeView) error {
	f := store.RunFilter{Status: api.RunStatus(at.status), Project: at.project, Host: at.host}
	runs, more, err := u.core.Runs(ctx, f, pg)
	if err != nil {
		return err
	}
	if v.Runs, err = u.runListRows(ctx, userID, runs); err != nil {
		return err
	}
	if more {
		next := at
		next.runs = u.core.Cursor(ListRuns, runKey(runs[len(runs)-1]))
		v.Links.OlderRuns = next.url()
	}
	return nil
}

// maxNoAgentHosts bounds the hosts-without-agent rows on the home page.
const maxNoAgentHosts = 20

func (u *UI) homeHosts(ctx context.Context, userID string, at homeQuery, pg store.Page, v *homeView) error {
	agents, more, err := u.core.Store().ListAgents(ctx, userID, pg)
	if err != nil {
		return err
	}
	shown, err := u.core.Agents(ctx, agents)
	if err != nil {
		return err
	}
	for i, a := range shown {
		v.Hosts = append(v.Hosts, hostRow{Agent: a, LastSeen: agents[i].LastHeartbeat, GPUs: gpuSummary(a.Resources)})
	}
	if more {
		next := at
		next.hostsAt = u.core.Cursor(ListAgents, agents[len(agents)-1].Key())
		v.Links.OlderHosts = next.url()
	}
	if at.hostsAt != "" {
		return nil // listed once, with the first page of hosts
	}
	bare, err := u.core.Store().HostsWithoutAgent(ctx, userID, maxNoAgentHosts)
	for _, h := range bare {
		v.NoAgentHosts = append(v.NoAgentHosts, hostWithoutAgent{Hostname: h,
			Why: "no agent of yours has registered on this host: run argus-agent --register there to rerun its batches"})
	}
	return err
}

// gpuSummary is a host's GPUs in a few words for the hosts table.
func gpuSummary(r *api.Resources) string {
	if r == nil || len(r.GPUs) == 0 {
		return ""
	}
	busy := 0
	for _, g := range r.GPUs {
		if g.UtilPercent >= 50 || (g.MemTotalMiB > 0 && g.MemUsedMiB*2 >= g.MemTotalMiB) {
			busy++
		}
	}
	noun := "GPUs"
	if len(r.GPUs) == 1 {
		noun = "GPU"
	}
	return strconv.Itoa(len(r.GPUs)) + " " + noun + ", " + strconv.Itoa(busy) + " busy"
}

func (u *UI) homeBatches(ctx context.Context, userID string, at homeQuery, pg store.Page, v *homeView) error {
	st := u.core.Store()
	batches, more, err := st.ListBatches(ctx, userID, store.BatchFilter{Project: at.project, Host: at.host}, pg)
	if err != nil {
		return err
	}
	ids := make([]string, len(batches))
	for i, b := range batches {
		ids[i] = b.ID
	}
	summaries, err := st.BatchRuns(ctx, ids)
	if err != nil {
		return err
	}
	for _, b := range batches {
		row := batchRow{Batch: b.API(u.name(ctx, b.OwnerID)), Command: b.Snapshot.Command.ShellText()}
		if sum, ok := summaries[b.ID]; ok {
			last := newRunRow(sum.Last.API(), u.core.Now())
			row.Runs, row.Last = sum.Count, &last
		}
		v.Batches = append(v.Batches, row)
	}
	if more {
		next := at
		next.batches = u.core.Cursor(ListBatches, batches[len(batches)-1].Key())
		v.Links.OlderBatches = next.url()
	}
	return nil
}

// only is the named parameters of q that it has.
func only(q url.Values, names ...string) url.Values {
	out := url.Values{}
	for _, n := range names {
		if vs, ok := q[n]; ok {
			out[n] = vs
		}
	}
	return out
}
