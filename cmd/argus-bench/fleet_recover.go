package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/argus-exec/argus/internal/ctxsleep"
)

// recoveryStable is how long every remaining agent's poll must stay held,
// with none refused, for the fleet to count as recovered; recoveryGiveUp
// bounds the wait.
const (
	recoveryStable = 5 * time.Second
	recoveryGiveUp = 3 * time.Minute
)

// measureRecovery is --drop-to: the load drops (every agent past the
// first cfg.DropTo stops, drop cancels them), and it measures how long the
// fleet takes to be served again: until the server holds a poll of every
// remaining agent and none of theirs has been refused for recoveryStable.
// Then reruns to the remaining agents for cfg.RecoveryWindow show how they
// are served once recovered.
func measureRecovery(ctx context.Context, f *fleet, cfg fleetConfig, drop func(), stdout, stderr io.Writer) (*verdicts, error) {
	kept := f.agents[:cfg.DropTo]
	dropAt := time.Now()
	drop()
	fmt.Fprintf(stderr, "dropped to %d agents; waiting for all of them to be served…\n", len(kept))
	var heldSince time.Time // zero while not every remaining agent is held
	recovered := false
	for time.Since(dropAt) < recoveryGiveUp {
		if !ctxsleep.Sleep(ctx, 250*time.Millisecond) {
			return nil, ctx.Err()
		}
		held := 0
		for k := range cfg.Replicas {
			n, _ := f.replica(k).PollsHeld(ctx)
			held += n
		}
		switch {
		case held < len(kept):
			heldSince = time.Time{}
		case heldSince.IsZero() || lastRefusal(kept).After(heldSince):
			heldSince = time.Now()
		case time.Since(heldSince) >= recoveryStable:
			recovered = true
		}
		if recovered {
			break
		}
	}
	took := heldSince.Sub(dropAt)

	f.book.restart()
	rerunLoad(ctx, f, len(kept), cfg.Rate, cfg.RecoveryWindow)
	drainUntil := time.Now().Add(cfg.Drain)
	for f.book.pending() > 0 && time.Now().Before(drainUntil) && ctxsleep.Sleep(ctx, 20*time.Millisecond) {
	}
	f.book.setPhase(phaseStop)
	var rep fleetReport
	rep.cfg = cfg
	rep.take(f.book)
	return rep.printRecovery(stdout, len(kept), recovered, took), ctx.Err()
}

// lastRefusal is the latest time a poll of one of agents was refused or
// failed.
func lastRefusal(agents []*simAgent) time.Time {
	var last int64
	for _, a := range agents {
		last = max(last, a.refusedAt.Load())
	}
	if last == 0 {
		return time.Time{}
	}
	return time.Unix(0, last)
}

func (r *fleetReport) printRecovery(w io.Writer, kept int, recovered bool, took time.Duration) *verdicts {
	cfg := r.cfg
	fmt.Fprintf(w, "\nrecovery: the load dropped to %d agents (%d stopped)\n", kept, cfg.Agents-kept)
	if recovered {
		fmt.Fprintf(w, "every remaining agent's poll held by the server, none refused for %s since: %s after the drop\n",
			recoveryStable, took.Round(100*time.Millisecond))
	} else {
		fmt.Fprintf(w, "not recovered within %s of the drop\n", recoveryGiveUp)
	}
	fmt.Fprintf(w, "then reruns at %.0f/s for %s to the remaining agents:\n", cfg.Rate, cfg.RecoveryWindow)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "latency\tn\tp50\tp90\tp99\tmax\t")
	fmt.Fprintln(tw, r.Accepted.row("rerun → 202"))
	fmt.Fprintln(tw, r.Dispatch.row("rerun → job at agent"))
	tw.Flush()
	fmt.Fprintf(w, "reruns: %d sent, %d answered 202, %d received by an agent, %d never; delivered twice: %d; to another host: %d\n",
		r.Sent, r.Accepted.N, r.Dispatch.N, r.Lost, r.Twice, r.WrongAgent)
	printErrs(w, "errors after the drop", r.Errs, r.Example, phaseMeasure)
	fmt.Fprintln(w)

	var v verdicts
	t := cfg.Targets
	v.check("recovery after the drop", took.Round(100*time.Millisecond).String(), t.Recovery.String(), recovered && took <= t.Recovery)
	v.check("rerun → job at agent p99 after recovery", ms(r.Dispatch.P99), ms(t.DispatchP99), r.Dispatch.N > 0 && r.Dispatch.P99 <= t.DispatchP99)
	v.check("errors after recovery", fmt.Sprint(r.errors()), "0", r.errors() == 0)
	v.check("double deliveries after the drop", fmt.Sprint(r.Twice), "0", r.Twice == 0)
	v.print(w)
	return &v
}
