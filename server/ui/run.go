package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/argus-exec/argus/server/api"
)

// The run page, /ui/runs/{run_id}: one run's facts and its output as it
// grows. The page itself is static HTML (no meta refresh: reloading would
// lose the reader's place in the output); run.js follows the output
// through /ui/runs/{run_id}/log, the same long-poll as the API's log read
// but on the session, and re-reads the page to swap in the status section
// when the run changes state.

// runURL is a run's page, built from its id only (it lands in links and
// redirects).
func runURL(id string) string { return "/ui/runs/" + url.PathEscape(id) }

// runView is what run.html shows besides the layout.
type runView struct {
	Run       runRow
	BatchName string
	Project   string
	Host      string // the agent's hostname (and label), else the batch's host
	Exit      string // why the run ended, in words; "" while it has not
	Elapsed   string // as of rendering; run.js ticks it on while Live
	// Started, Ended and Now (the server's clock) in RFC 3339 for run.js:
	// elapsed time is counted against the server's clock, so a browser
	// whose clock is off still shows the right figure.
	Started, Ended, Now string
	Live                bool   // the run may still change: run.js follows it
	State               string // changes whenever the status section would
	CanStop             bool
	LogURL              string
}

func (u *UI) handleRunPage(w http.ResponseWriter, r *http.Request, sess session) error {
	ctx := r.Context()
	run, err := u.core.Run(ctx, r.PathValue("run_id"), false)
	if err != nil {
		return err
	}
	b, err := u.core.Batch(ctx, run.BatchID, false)
	if err != nil {
		return err
	}
	out, err := u.core.Describe(ctx, run)
	if err != nil {
		return err
	}
	may, err := u.core.MayControl(ctx, b)
	if err != nil {
		return err
	}
	now := u.core.Now()
	v := runView{
		Run: newRunRow(out, now), BatchName: b.Name, Project: b.Project, Host: b.Snapshot.Host,
		Exit: exitReason(out), Elapsed: elapsed(out, now), Now: now.UTC().Format(time.RFC3339Nano),
		Live:    !out.Status.Ended(),
		CanStop: may && (out.Status == api.RunRunning || out.Status == api.RunQueued),
		LogURL:  runURL(out.ID) + "/log",
	}
	if a, err := u.core.Store().Agent(ctx, out.AgentID); err == nil {
		v.Host = a.Hostname
		if a.Label != "" {
			v.Host += " (" + a.Label + ")"
		}
	}
	if out.StartedAt != nil {
		v.Started = out.StartedAt.UTC().Format(time.RFC3339Nano)
	}
	if out.EndedAt != nil {
		v.Ended = out.EndedAt.UTC().Format(time.RFC3339Nano)
	}
	v.State = strings.Join([]string{string(out.Status), strconv.Itoa(out.PID), v.Started, v.Ended,
		out.StoppedBy, out.StopReason, out.StopOutcome, out.WaitingReason, strconv.FormatBool(v.CanStop)}, "|")
	p, err := u.base(r, sess, "Run "+out.ID)
	if err != nil {
		return err
	}
	p.Refresh = "" // run.js keeps the page current; a reload would lose the reader's scroll position
	p.Script = "/ui/static/run.js"
	p.Data = v
	return u.render(w, http.StatusOK, "run.html", p)
}

// handleRunLog is the API's log read on the UI session, for run.js: the
// same visibility check, then the same bytes, headers and long-poll. A
// read changes nothing, so it needs no CSRF token; the session cookie is
// SameSite=Strict and the answer is text/plain with nosniff, so another
// site can neither send it with the cookie nor load it as a script.
func (u *UI) handleRunLog(w http.ResponseWriter, r *http.Request, _ session) error {
	run, err := u.core.Run(r.Context(), r.PathValue("run_id"), false)
	if err != nil {
		return err
	}
	return u.core.ServeRunLog(w, r, run.ID)
}

// exitReason says how the run ended: its exit code, the signal that
// killed it, why it never started, or that nobody knows.
func exitReason(r api.Run) string {
	var parts []string
	switch {
	case r.Status == api.RunCancelled:
		parts = append(parts, "cancelled before it started")
	case r.Status == api.RunExpired:
		parts = append(parts, "expired: no agent took it in time")
	case r.Status == api.RunFailed:
		parts = append(parts, "could not be started")
	case !r.Status.Ended():
		return ""
	case r.ExitCode != nil:
		parts = append(parts, "exit code "+strconv.Itoa(*r.ExitCode))
	case r.Signal == api.EndJobTerminated:
		parts = append(parts, "its job object was terminated (Windows): the process tree was ended")
	case r.Signal == api.EndCtrlBreak:
		parts = append(parts, "ended by CTRL_BREAK (Windows), the stop's first request")
	case r.Signal != "":
		parts = append(parts, "killed by signal "+r.Signal)
	case r.ExitUnknown:
		parts = append(parts, "unknown: the agent could not learn how it ended")
	default:
		parts = append(parts, "unknown")
	}
	if r.StopReason == api.StopReasonTimeout {
		parts = append(parts, "timeout reached")
	}
	if r.LeftProcesses > 0 {
		noun := "processes"
		if r.LeftProcesses == 1 {
			noun = "process"
		}
		parts = append(parts, fmt.Sprintf("left %d %s behind, terminated when the main process ended", r.LeftProcesses, noun))
	}
	if r.Error != "" {
		parts = append(parts, r.Error)
	}
	return strings.Join(parts, " — ")
}

// elapsed is how long the run has run (or ran), to the second; "—" before
// it started.
func elapsed(r api.Run, now time.Time) string {
	if r.StartedAt == nil {
		return "—"
	}
	end := now
	if r.EndedAt != nil {
		end = *r.EndedAt
	}
	return max(end.Sub(*r.StartedAt), 0).Round(time.Second).String()
}
