package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/argus-exec/argus/internal/ctxsleep"
	"github.com/argus-exec/argus/server/api"
)

// stopConfig is everything `argus-bench stop` is told.
type stopConfig struct {
	Stack   stackConfig
	Grace   time.Duration
	Procs   int
	Repeats int
	Target  time.Duration // highest acceptable overshoot past the grace period
	Strict  bool
}

func stopCommand() *cli.Command {
	return &cli.Command{
		Name:  "stop",
		Usage: "Stop → death of a SIGTERM-ignoring process tree through the real argus-server and argus-agent",
		Description: "Starts argus-server and argus-agent, records a shell script that ignores SIGTERM and starts\n" +
			"--procs - 1 sleeps (the ignored signal is inherited), reruns it, waits for the whole tree, then times\n" +
			"POST /api/runs/{id}/stop with --grace until no process of the run is alive. The overshoot is that\n" +
			"time minus the grace period: what the stop costs beyond the wait it was asked for.",
		Flags: append(stackFlags(),
			&cli.DurationFlag{Name: "grace", Value: 2 * time.Second, Usage: "grace_period sent with each stop"},
			&cli.IntFlag{Name: "procs", Value: 50, Usage: "processes in the tree: one shell and procs-1 sleeps"},
			&cli.IntFlag{Name: "repeats", Value: 5, Usage: "stops to time, each on a fresh rerun"},
			&cli.DurationFlag{Name: "target", Value: 100 * time.Millisecond, Usage: "highest acceptable overshoot past the grace period"},
		),
		Action: func(c *cli.Context) error {
			return runStop(c.Context, stopConfig{
				Stack: stackConfigFrom(c), Grace: c.Duration("grace"), Procs: c.Int("procs"),
				Repeats: c.Int("repeats"), Target: c.Duration("target"), Strict: c.Bool("strict"),
			}, c.App.Writer, c.App.ErrWriter)
		},
	}
}

func (cfg stopConfig) validate() error {
	switch {
	case cfg.Grace < 0 || cfg.Grace > time.Hour:
		return errors.New("--grace must be between 0s and 1h")
	case cfg.Procs < 1:
		return errors.New("--procs must be at least 1")
	case cfg.Repeats < 1:
		return errors.New("--repeats must be at least 1")
	}
	return nil
}

// stopSample is one timed stop.
type stopSample struct {
	RunID      string
	FirstDeath time.Duration // stop sent → the first process of the tree gone
	AllDead    time.Duration // stop sent → no process of the tree alive
	Outcome    string        // as the agent acked it
	Signal     string        // as the run ended
	AgentCPU   time.Duration // the agent's CPU time from the stop to its ack
}

// stopWithin bounds the waits around a stop that are not what is timed:
// the tree appearing, and the ack arriving after it died.
const stopWithin = 20 * time.Second

func runStop(ctx context.Context, cfg stopConfig, stdout, stderr io.Writer) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	s, err := openStack(ctx, cfg.Stack, stdout, stderr)
	if err != nil {
		return err
	}
	defer s.Close()

	// `wait` keeps the shell (the group leader) alive; the sleeps inherit
	// the ignored SIGTERM, so only the SIGKILL after the grace period ends
	// any of them.
	script := fmt.Sprintf("trap '' TERM; for i in $(seq %d); do sleep 600 & done; wait", cfg.Procs-1)
	batch, err := s.recordBatch(ctx, "stop-tree", api.CommandLine{Shell: script})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "script: %s\n", script)

	var samples []stopSample
	for i := range cfg.Repeats {
		fmt.Fprintf(stderr, "stop %d/%d (grace %s)…\n", i+1, cfg.Repeats, cfg.Grace)
		r, err := s.stopOnce(ctx, batch, cfg)
		if err != nil {
			return fmt.Errorf("stop %d: %w", i+1, err)
		}
		samples = append(samples, r)
	}
	return printStop(stdout, cfg, samples)
}

// stopOnce reruns the script, waits for all its processes, stops it and
// times the tree's death.
func (s *stack) stopOnce(ctx context.Context, batchID string, cfg stopConfig) (stopSample, error) {
	q, err := s.rerun(ctx, batchID)
	if err != nil {
		return stopSample{}, err
	}
	r := stopSample{RunID: q.RunID}
	if _, err := s.waitRun(ctx, q.RunID, "running", 5*time.Millisecond, stopWithin,
		func(r *api.Run) bool { return r.Status == api.RunRunning && r.PID > 0 }); err != nil {
		return r, err
	}
	tree, err := waitTree(ctx, q.RunID, cfg.Procs)
	if err != nil {
		return r, err
	}
	cpu0, err := readStat(s.Agent.Proc.PID())
	if err != nil {
		return r, err
	}
	t0 := time.Now()
	if _, err := s.User.Stop(ctx, q.RunID, api.StopRequest{GracePeriod: cfg.Grace.String()}); err != nil {
		return r, fmt.Errorf("stop: %w", err)
	}
	// Watching the processes seen, by PID and start time, instead of
	// scanning every /proc/*/environ each time: a scan takes milliseconds,
	// which would blur the figure it measures. The tree cannot grow (the
	// shell only waits), so nothing is missed; a final scan checks that.
	deadline := t0.Add(cfg.Grace + stopWithin)
	left := tree
	for {
		// Drop the dead from the front and stop at the first live one: one
		// or two reads of /proc per poll while the tree waits out the
		// grace period, so the poll does not take the CPU the agent needs.
		// The SIGKILL reaches the whole group at once, so the first death
		// seen this way is the first death to within a poll.
		for len(left) > 0 && alive(left[:1]) == 0 {
			left = left[1:]
		}
		now := time.Now()
		if len(left) < len(tree) && r.FirstDeath == 0 {
			r.FirstDeath = now.Sub(t0)
		}
		if len(left) == 0 {
			r.AllDead = now.Sub(t0)
			break
		}
		if now.After(deadline) {
			return r, fmt.Errorf("%d of %d processes still alive %s after the stop", alive(left), len(tree), now.Sub(t0).Round(time.Millisecond))
		}
		if !ctxsleep.Sleep(ctx, time.Millisecond) {
			return r, ctx.Err()
		}
	}
	if left := runPIDs(q.RunID); len(left) > 0 {
		return r, fmt.Errorf("processes of the run still alive after its tree died: %v", left)
	}
	end, err := s.waitRun(ctx, q.RunID, "stopped and acked", 5*time.Millisecond, stopWithin,
		func(r *api.Run) bool { return r.Status == api.RunStopped && r.StopOutcome != "" })
	if err != nil {
		return r, err
	}
	r.Outcome, r.Signal = end.StopOutcome, end.Signal
	// What waiting out the grace period costs the agent: a stop is mostly
	// waiting, and should cost little more than a sleep.
	cpu1, err := readStat(s.Agent.Proc.PID())
	if err != nil {
		return r, err
	}
	r.AgentCPU = cpu1.CPU - cpu0.CPU
	return r, nil
}

// waitTree waits until the run has n live processes and returns them.
func waitTree(ctx context.Context, runID string, n int) ([]pidAt, error) {
	deadline := time.Now().Add(stopWithin)
	for {
		pids := runPIDs(runID)
		if len(pids) == n {
			return snapshot(pids), nil
		}
		if len(pids) > n {
			return nil, fmt.Errorf("run %s has %d processes, want %d", runID, len(pids), n)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("run %s: %d of %d processes after %s", runID, len(pids), n, stopWithin)
		}
		if !ctxsleep.Sleep(ctx, 10*time.Millisecond) {
			return nil, ctx.Err()
		}
	}
}

func printStop(w io.Writer, cfg stopConfig, samples []stopSample) error {
	fmt.Fprintf(w, "\n%d stops of a %d-process tree ignoring SIGTERM, grace_period %s, polled every 1ms;\n"+
		"agent CPU is utime+stime of argus-agent (10 ms ticks) from the stop request to the run's stopped status\n\n",
		len(samples), cfg.Procs, cfg.Grace)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stop\tfirst death\tall dead\tovershoot\toutcome\tsignal\tagent CPU\t")
	over := make([]time.Duration, len(samples))
	for i, r := range samples {
		over[i] = r.AllDead - cfg.Grace
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", i+1, ms(r.FirstDeath), ms(r.AllDead), ms(over[i]), r.Outcome, r.Signal, ms(r.AgentCPU))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	slices.Sort(over)
	med := over[len(over)/2]
	if len(over)%2 == 0 {
		med = (over[len(over)/2-1] + over[len(over)/2]) / 2
	}
	worst := over[len(over)-1]
	fmt.Fprintf(w, "\novershoot (all dead - grace): median %s, max %s\n", ms(med), ms(worst))
	fmt.Fprintf(w, "load average at end: %s\n\n", loadAvg())

	var v verdicts
	v.check("stop overshoot median", ms(med), ms(cfg.Target), med <= cfg.Target)
	v.check("stop overshoot max", ms(worst), ms(cfg.Target), worst <= cfg.Target)
	v.print(w)
	if cfg.Strict {
		return v.err()
	}
	return nil
}
