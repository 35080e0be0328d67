package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/ctxsleep"
	"github.com/argus-exec/argus/server/api"
)

// chaosReport is what the checks found once everything settled.
type chaosReport struct {
	Took                  time.Duration
	Kills                 map[string]int
	Queued, Unsure, Stops int
	ByStatus              map[api.RunStatus]int
	Runs                  int // every run the API knows
	// Resumed is, for each server restart not followed by an agent kill
	// within resumeWindow, the time from the server answering again to
	// the first run starting after it.
	Resumed durStats

	Twice       []string // started more than once
	Lost        []string // answered 202, unknown to the API
	Stuck       []string // not ended after the settling time
	FailedRan   []string // failed (never started, says the API), yet it started
	Unknown     []string // exit_unknown
	WrongExit   []string // exited, but not with the command's code, or not at its end
	Orphans     []string // processes of the run alive after it ended
	UnknownRuns []string // started, but the API knows no such run
}

// settle waits, up to cfg.Settle, until every run the API knows has ended
// and every run that noted its start is known, then checks them all.
func (c *chaos) settle(ctx context.Context) (*chaosReport, error) {
	deadline := time.Now().Add(c.cfg.Settle)
	var runs []api.Run
	for {
		var err error
		runs, err = c.allRuns(ctx)
		if err == nil && allEnded(runs) && c.startsKnown(runs) {
			break
		}
		if time.Now().After(deadline) {
			if err != nil {
				return nil, fmt.Errorf("list runs after settling: %w", err)
			}
			break
		}
		if !ctxsleep.Sleep(ctx, time.Second) {
			return nil, ctx.Err()
		}
	}
	return c.check(runs), nil
}

func allEnded(runs []api.Run) bool {
	return !slices.ContainsFunc(runs, func(r api.Run) bool { return !r.Status.Ended() || r.Status == api.RunStopping })
}

// startsKnown: every run that noted its start is one the API lists.
func (c *chaos) startsKnown(runs []api.Run) bool {
	known := map[string]bool{}
	for _, r := range runs {
		known[r.ID] = true
	}
	for id := range c.lines("starts") {
		if !known[id] {
			return false
		}
	}
	return true
}

// allRuns lists every run of the user, page by page.
func (c *chaos) allRuns(ctx context.Context) ([]api.Run, error) {
	var out []api.Run
	opts := client.RunsOptions{ListOptions: client.ListOptions{Limit: 1000}}
	for {
		page, err := c.user.Runs(ctx, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Runs...)
		if page.NextCursor == "" {
			return out, nil
		}
		opts.Cursor = page.NextCursor
	}
}

// lines counts the run ids written to one of the runs' files.
func (c *chaos) lines(name string) map[string]int {
	data, _ := os.ReadFile(filepath.Join(c.dir, name))
	n := map[string]int{}
	for _, l := range strings.Fields(string(data)) {
		n[l]++
	}
	return n
}

// resumeWindow: a server restart followed by a kill within this is not
// counted in Resumed (the first start after it would measure that kill).
const resumeWindow = 3 * time.Second

// resumed is how long after each clean server return the first run
// started (the runs' own start times, taken by the agent on this machine).
func resumed(runs []api.Run, back, kills []time.Time) []time.Duration {
	var starts []time.Time
	for _, r := range runs {
		if r.StartedAt != nil {
			starts = append(starts, *r.StartedAt)
		}
	}
	slices.SortFunc(starts, time.Time.Compare)
	var out []time.Duration
	for _, t := range back {
		if slices.ContainsFunc(kills, func(k time.Time) bool { return k.After(t) && k.Sub(t) < resumeWindow }) {
			continue
		}
		if i, _ := slices.BinarySearchFunc(starts, t, time.Time.Compare); i < len(starts) {
			out = append(out, starts[i].Sub(t))
		}
	}
	return out
}

func (c *chaos) check(runs []api.Run) *chaosReport {
	c.mu.Lock()
	rep := &chaosReport{Kills: c.kills, Queued: len(c.queued), Unsure: c.unsure, Stops: c.stops,
		ByStatus: map[api.RunStatus]int{}, Runs: len(runs)}
	queued := c.queued
	rep.Resumed = summarize(resumed(runs, c.serverBack, c.killedAt))
	c.mu.Unlock()
	starts, ends := c.lines("starts"), c.lines("ends")
	known := map[string]bool{}
	for _, r := range runs {
		known[r.ID] = true
		rep.ByStatus[r.Status]++
		started := starts[r.ID] > 0
		switch {
		case starts[r.ID] > 1:
			rep.Twice = append(rep.Twice, r.ID)
		case !r.Status.Ended() || r.Status == api.RunStopping:
			rep.Stuck = append(rep.Stuck, r.ID)
		case r.ExitUnknown:
			rep.Unknown = append(rep.Unknown, r.ID)
		case r.Status == api.RunFailed && started:
			rep.FailedRan = append(rep.FailedRan, r.ID)
		case r.Status == api.RunExited && (r.ExitCode == nil || *r.ExitCode != chaosExit || ends[r.ID] == 0):
			rep.WrongExit = append(rep.WrongExit, r.ID)
		}
		if len(runPIDs(r.ID)) > 0 {
			rep.Orphans = append(rep.Orphans, r.ID)
		}
	}
	for id := range queued {
		if !known[id] {
			rep.Lost = append(rep.Lost, id)
		}
	}
	for id := range starts {
		if !known[id] {
			rep.UnknownRuns = append(rep.UnknownRuns, id)
		}
	}
	return rep
}

func (r *chaosReport) print(w io.Writer, cfg chaosConfig) *verdicts {
	fmt.Fprintf(w, "chaos: %d SIGKILLs (server %d, agent %d), one every %s on average, in %s\n",
		cfg.Kills, r.Kills["server"], r.Kills["agent"], cfg.Every, r.Took.Round(time.Second))
	fmt.Fprintf(w, "reruns: %d answered 202, %d with their answer lost (may have been queued), %d stops accepted\n",
		r.Queued, r.Unsure, r.Stops)
	var states []string
	for _, st := range slices.Sorted(maps.Keys(r.ByStatus)) {
		states = append(states, fmt.Sprintf("%s %d", st, r.ByStatus[st]))
	}
	fmt.Fprintf(w, "runs the API knows: %d (%s)\n", r.Runs, strings.Join(states, ", "))
	if r.Resumed.N > 0 {
		fmt.Fprintf(w, "first run started after the server answered again (%d restarts with no kill within %s after): p50 %s, max %s\n",
			r.Resumed.N, resumeWindow, ms(r.Resumed.P50), ms(r.Resumed.Max))
	}
	fmt.Fprintln(w)
	var v verdicts
	if r.Resumed.N > 0 {
		v.check("first run start after a server outage, max", ms(r.Resumed.Max), "2000ms", r.Resumed.Max <= 2*time.Second)
	}
	for _, c := range []struct {
		what string
		ids  []string
	}{
		{"runs started twice", r.Twice},
		{"runs answered 202 and lost", r.Lost},
		{"runs stuck (not ended after settling)", r.Stuck},
		{"runs reported failed that ran", r.FailedRan},
		{"runs reported exit_unknown", r.Unknown},
		{"runs exited with another code than the command's, or before its end", r.WrongExit},
		{"runs with a process left after their end", r.Orphans},
		{"runs that started and the API does not know", r.UnknownRuns},
	} {
		v.check(c.what, fmt.Sprint(len(c.ids)), "0", len(c.ids) == 0)
		if len(c.ids) > 0 {
			fmt.Fprintf(w, "  %s: %s\n", c.what, strings.Join(c.ids[:min(len(c.ids), 5)], " "))
		}
	}
	v.print(w)
	return &v
}
