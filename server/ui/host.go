package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// The host page, /ui/agents/{id}: one agent of the signed-in user, what
// its host last reported of itself (load, memory, disk, GPUs), and the
// runs it ran, newest first. Only the agent's owner sees it: agents are
// listed to their owner only, in the API as here.

// hostURL is an agent's page, built from its id only.
func hostURL(id string) string { return "/ui/agents/" + url.PathEscape(id) }

// hostView is what host.html shows besides the layout.
type hostView struct {
	Host      hostRow
	Resources *resourcesView // nil until the agent reported
	Runs      []runListRow
	Links     pageLinks
}

// pageLinks are one paged list's links; empty ones are not shown.
type pageLinks struct{ Older, Newest string }

func (u *UI) handleHostPage(w http.ResponseWriter, r *http.Request, sess session) error {
	ctx := r.Context()
	a, err := u.core.Agent(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	q := r.URL.Query()
	pg, err := u.page(q, ListRuns)
	if err != nil {
		return err
	}
	shown, err := u.core.Agents(ctx, []store.Agent{a})
	if err != nil {
		return err
	}
	runs, more, err := u.core.Runs(ctx, store.RunFilter{AgentID: a.ID}, pg)
	if err != nil {
		return err
	}
	v := hostView{Host: hostRow{Agent: shown[0], LastSeen: a.LastHeartbeat}, Resources: newResourcesView(shown[0].Resources)}
	if v.Runs, err = u.runListRows(ctx, sess.UserID, runs); err != nil {
		return err
	}
	limit := ""
	if q.Get("limit") != "" {
		limit = strconv.Itoa(pg.Limit)
	}
	if more {
		next := u.core.Cursor(ListRuns, runKey(runs[len(runs)-1]))
		v.Links.Older = withQuery(hostURL(a.ID), "limit", limit, "cursor", next)
	}
	if q.Get("cursor") != "" {
		v.Links.Newest = withQuery(hostURL(a.ID), "limit", limit)
	}
	p, err := u.base(r, sess, "Host "+a.Hostname)
	if err != nil {
		return err
	}
	p.Refresh, p.Data = withQuery(hostURL(a.ID), "limit", limit, "cursor", q.Get("cursor")), v
	return u.renderLive(w, r, "host.html", p)
}

// withQuery is path with the non-empty pairs (name, value, …) as its query.
func withQuery(path string, pairs ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			v.Set(pairs[i], pairs[i+1])
		}
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// resourcesView is a report in words, for the host page.
type resourcesView struct {
	At     time.Time
	Load   string // "12.5 on 64 CPUs"
	Memory string // "512 GiB used of 1024 GiB (50 %)"
	Disk   string // "1.2 TiB free of 2.0 TiB", of the agent's home
	GPUs   []gpuView
	// GPUError: the host has nvidia-smi but its GPUs could not be read.
	GPUError string
}

type gpuView struct {
	api.GPU
	Text       string // "GPU 0: 97 % busy, 78/80 GB"
	MemPercent int
}

func newResourcesView(r *api.Resources) *resourcesView {
	if r == nil {
		return nil
	}
	v := &resourcesView{At: r.SampledAt, Load: strconv.FormatFloat(r.Load1, 'f', 2, 64), GPUError: r.GPUError}
	if r.CPUs > 0 {
		v.Load += fmt.Sprintf(" on %d CPUs", r.CPUs)
	}
	if r.MemTotalBytes > 0 {
		used := r.MemTotalBytes - min(r.MemAvailBytes, r.MemTotalBytes)
		v.Memory = fmt.Sprintf("%s used of %s (%d %%)", bytesText(used), bytesText(r.MemTotalBytes), used*100/r.MemTotalBytes)
	}
	if r.DiskTotalBytes > 0 {
		v.Disk = fmt.Sprintf("%s free of %s", bytesText(r.DiskFreeBytes), bytesText(r.DiskTotalBytes))
	}
	for _, g := range r.GPUs {
		gv := gpuView{GPU: g, Text: g.GPUText()}
		if g.MemTotalMiB > 0 {
			gv.MemPercent = g.MemUsedMiB * 100 / g.MemTotalMiB
		}
		v.GPUs = append(v.GPUs, gv)
	}
	return v
}

// bytesText writes a byte count in binary units, as free(1) and df -h do.
func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + " B"
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// runListRow is a run in a list that spans batches (home, host page): the
// run's row plus the batch and host it belongs to.
type runListRow struct {
	runRow
	BatchName string
	Host      string
	HostURL   string // the host page, when the run's agent is the viewer's
}

// runListRows describes runs for a list, reading each batch and agent
// they name once; a host links to its page when the viewer owns its agent.
func (u *UI) runListRows(ctx context.Context, viewer string, shown []api.Run) ([]runListRow, error) {
	st := u.core.Store()
	batches, agents := map[string]store.Batch{}, map[string]store.Agent{}
	now := u.core.Now()
	out := make([]runListRow, len(shown))
	for i, run := range shown {
		b, ok := batches[run.BatchID]
		if !ok {
			var err error
			if b, err = st.Batch(ctx, run.BatchID); err != nil && !isNotFound(err) {
				return nil, err
			}
			batches[run.BatchID] = b
		}
		a, ok := agents[run.AgentID]
		if !ok {
			var err error
			if a, err = st.Agent(ctx, run.AgentID); err != nil && !isNotFound(err) {
				return nil, err
			}
			agents[run.AgentID] = a
		}
		row := runListRow{runRow: newRunRow(run, now), BatchName: b.Name, Host: a.Hostname}
		if row.Host == "" {
			row.Host = b.Snapshot.Host
		}
		if a.ID != "" && a.UserID == viewer {
			row.HostURL = hostURL(a.ID)
		}
		out[i] = row
	}
	return out, nil
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
