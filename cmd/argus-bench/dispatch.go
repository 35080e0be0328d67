package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/argus-exec/argus/server/api"
)

// dispatchConfig is everything `argus-bench dispatch` is told.
type dispatchConfig struct {
	Stack  stackConfig
	Reruns int
	Warmup int
	// PollEvery is the pause between two GETs of the run while waiting
	// for its PID; zero sends the next as soon as the last is answered.
	PollEvery            time.Duration
	P50Target, P99Target time.Duration
	Strict               bool
}

func dispatchCommand() *cli.Command {
	return &cli.Command{
		Name:  "dispatch",
		Usage: "Rerun → PID latency through the real argus-server and argus-agent, against a bare fork+exec",
		Description: "Starts argus-server and argus-agent, records a batch running `true` on this host, then reruns it\n" +
			"--reruns times, one after another: each is timed from just before POST /api/batches/{id}/rerun to\n" +
			"the first GET /api/runs/{id} that shows a PID. After each rerun, an exec of `true` from this\n" +
			"process is timed as the floor. Prints p50/p90/p99/max of both and checks p50 and p99 against targets.",
		Flags: append(stackFlags(),
			&cli.IntFlag{Name: "reruns", Value: 200, Usage: "measured reruns (at least 200, so that p99 rests on more than one sample)"},
			&cli.IntFlag{Name: "warmup", Value: 5, Usage: "unmeasured reruns first (connections, page cache, SQLite statements)"},
			&cli.DurationFlag{Name: "poll-every", Value: 200 * time.Microsecond, Usage: "pause between GETs of the run while waiting for its PID (0: back to back, which on few CPUs slows what it measures)"},
			&cli.DurationFlag{Name: "target-p50", Value: 5 * time.Millisecond, Usage: "highest acceptable p50"},
			&cli.DurationFlag{Name: "target-p99", Value: 20 * time.Millisecond, Usage: "highest acceptable p99"},
		),
		Action: func(c *cli.Context) error {
			return runDispatch(c.Context, dispatchConfig{
				Stack: stackConfigFrom(c), Reruns: c.Int("reruns"), Warmup: c.Int("warmup"),
				PollEvery: c.Duration("poll-every"),
				P50Target: c.Duration("target-p50"), P99Target: c.Duration("target-p99"),
				Strict: c.Bool("strict"),
			}, c.App.Writer, c.App.ErrWriter)
		},
	}
}

func (cfg dispatchConfig) validate() error {
	switch {
	case cfg.Reruns < 200:
		return errors.New("--reruns must be at least 200")
	case cfg.Warmup < 0:
		return errors.New("--warmup must not be negative")
	case cfg.PollEvery < 0:
		return errors.New("--poll-every must not be negative")
	}
	return nil
}

// dispatchSample is one measured rerun and the floor exec after it.
type dispatchSample struct {
	Visible   time.Duration // POST rerun sent → GET shows the PID
	Post      time.Duration // POST rerun sent → its 202 read
	Spawned   time.Duration // server's created_at → agent's started_at
	Polls     int           // GETs of the run until the PID showed
	ExecStart time.Duration // bare exec of true: Start returned
	ExecWait  time.Duration // bare exec of true: Wait returned
	ExitLost  string        // run id, when its end was not reported in time
}

// dispatchWithin bounds one rerun's wait for its PID: far above any
// plausible figure, there only so a lost command fails the benchmark.
// exitWithin bounds the wait for the end of `true` to be reported.
const (
	dispatchWithin = 10 * time.Second
	exitWithin     = 5 * time.Second
)

func runDispatch(ctx context.Context, cfg dispatchConfig, stdout, stderr io.Writer) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	s, err := openStack(ctx, cfg.Stack, stdout, stderr)
	if err != nil {
		return err
	}
	defer s.Close()

	batch, err := s.recordBatch(ctx, "dispatch-true", api.CommandLine{Argv: []string{"true"}})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%d warm-up reruns…\n", cfg.Warmup)
	var lost []string // runs whose end never reached the server
	for range cfg.Warmup {
		d, err := s.dispatchOnce(ctx, batch, cfg.PollEvery)
		if err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		if d.ExitLost != "" {
			lost = append(lost, d.ExitLost)
		}
	}
	// The server's own dispatch histogram, over the measured reruns only.
	before, err := s.server.Metrics(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%d measured reruns…\n", cfg.Reruns)
	samples := make([]dispatchSample, 0, cfg.Reruns)
	for i := range cfg.Reruns {
		d, err := s.dispatchOnce(ctx, batch, cfg.PollEvery)
		if err != nil {
			return fmt.Errorf("rerun %d: %w", i+1, err)
		}
		// The floor right after each rerun, not in a block of its own, so
		// a drift of the machine during the run falls on both alike.
		if d.ExecStart, d.ExecWait, err = execTrue(ctx); err != nil {
			return err
		}
		samples = append(samples, d)
		if d.ExitLost != "" {
			lost = append(lost, d.ExitLost)
		}
	}
	after, err := s.server.Metrics(ctx)
	if err != nil {
		return err
	}
	if err := printDispatch(stdout, cfg, samples, before, after); err != nil {
		return err
	}
	if len(lost) > 0 {
		// After the figures, which stand: the PIDs did come back. But the
		// rerun path misbehaved, and that must not pass silently.
		return fmt.Errorf("%d of %d runs of `true` showed a PID but never an end (still not ended %s later): %s",
			len(lost), cfg.Warmup+cfg.Reruns, exitWithin, strings.Join(lost, ", "))
	}
	if cfg.Strict {
		return dispatchVerdicts(cfg, samples).err()
	}
	return nil
}

// dispatchOnce reruns the batch, times it to the PID, then waits (not
// timed) for the run to end, so the next rerun finds the agent idle.
func (s *stack) dispatchOnce(ctx context.Context, batchID string, pollEvery time.Duration) (dispatchSample, error) {
	var d dispatchSample
	t0 := time.Now()
	q, err := s.rerun(ctx, batchID)
	if err != nil {
		return d, err
	}
	d.Post = time.Since(t0)
	var run *api.Run
	for {
		run, err = s.User.Run(ctx, q.RunID)
		d.Polls++
		if err != nil {
			return d, err
		}
		if run.PID > 0 && (run.Status == api.RunRunning || run.Status.Ended()) {
			d.Visible = time.Since(t0)
			break
		}
		if run.Status == api.RunFailed {
			return d, fmt.Errorf("run %s failed: %s", run.ID, run.Error)
		}
		if time.Since(t0) > dispatchWithin {
			return d, fmt.Errorf("run %s: no PID within %s (status %s)", run.ID, dispatchWithin, run.Status)
		}
		if pollEvery > 0 {
			pause(pollEvery)
		}
	}
	if run.StartedAt != nil {
		d.Spawned = run.StartedAt.Sub(run.CreatedAt)
	}
	end, err := s.waitRun(ctx, q.RunID, "ended", time.Millisecond, exitWithin,
		func(r *api.Run) bool { return r.Status.Ended() })
	if errors.Is(err, errRunTimeout) {
		// Not what is measured, so the run goes on; but a run whose end
		// never reaches the server is a fault, reported at the end.
		d.ExitLost = q.RunID
		return d, nil
	}
	if err != nil {
		return d, err
	}
	if end.Status != api.RunExited || end.ExitCode == nil || *end.ExitCode != 0 {
		return d, fmt.Errorf("run %s of `true` ended %s (exit code %v, signal %q)", end.ID, end.Status, end.ExitCode, end.Signal)
	}
	return d, nil
}

// execTrue is the floor: the cheapest way this process can start `true`,
// with the PATH lookup the agent also does. Start returning is when a PID
// exists; Wait returning is when the program has run and been reaped.
func execTrue(ctx context.Context) (start, wait time.Duration, err error) {
	t0 := time.Now()
	cmd := exec.CommandContext(ctx, "true")
	if err := cmd.Start(); err != nil {
		return 0, 0, fmt.Errorf("floor: %w", err)
	}
	start = time.Since(t0)
	if err := cmd.Wait(); err != nil {
		return 0, 0, fmt.Errorf("floor: %w", err)
	}
	return start, time.Since(t0), nil
}

func printDispatch(w io.Writer, cfg dispatchConfig, samples []dispatchSample, before, after map[string]float64) error {
	col := func(f func(dispatchSample) time.Duration) durStats { return summarize(durationsOf(samples, f)) }
	visible := col(dispatchSample.visible)
	polls := 0
	for _, s := range samples {
		polls += s.Polls
	}
	poll := "back to back"
	if cfg.PollEvery > 0 {
		poll = "every " + cfg.PollEvery.String()
	}
	fmt.Fprintf(w, "\n%d reruns of argv [true] (after %d warm-up), run polled %s: %.1f GETs per rerun\n\n",
		len(samples), cfg.Warmup, poll, float64(polls)/float64(len(samples)))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measure\tn\tp50\tp90\tp99\tmax\t")
	fmt.Fprintln(tw, visible.row("rerun → PID visible (GET /api/runs/{id})"))
	fmt.Fprintln(tw, col(dispatchSample.post).row("  POST rerun → 202"))
	fmt.Fprintln(tw, col(dispatchSample.spawned).row("  run created_at → agent's started_at"))
	fmt.Fprintln(tw, col(dispatchSample.execStart).row("floor: exec true, Start returned"))
	fmt.Fprintln(tw, col(dispatchSample.execWait).row("floor: exec true, Wait returned"))
	if err := tw.Flush(); err != nil {
		return err
	}
	// Each rerun leaves a journal record on the agent and rows on the
	// server: a dispatch that slows as they pile up shows here, and which
	// part slows says where.
	tenth := max(1, len(samples)/10)
	drift := func(f func(dispatchSample) time.Duration) string {
		p50 := func(ss []dispatchSample) time.Duration { return summarize(durationsOf(ss, f)).P50 }
		return ms(p50(samples[:tenth])) + " → " + ms(p50(samples[len(samples)-tenth:]))
	}
	fmt.Fprintf(w, "\ndrift, p50 of the first %d reruns → the last %d: PID visible %s; POST %s; created → started %s; floor Wait %s\n",
		tenth, tenth, drift(dispatchSample.visible), drift(dispatchSample.post), drift(dispatchSample.spawned), drift(dispatchSample.execWait))

	bs, count, sum := histDelta(before, after, "argus_command_dispatch_seconds", `kind="rerun"`)
	if count > 0 {
		fmt.Fprintf(w, "\nserver histogram argus_command_dispatch_seconds{kind=\"rerun\"} (queued → handed to the agent's poll), %d observations, mean %s:\n",
			int(count), ms(time.Duration(sum/count*float64(time.Second))))
		fmt.Fprintf(w, "  p50 %s, p99 %s; cumulative:", bucketQuantile(bs, count, 0.5), bucketQuantile(bs, count, 0.99))
		for _, b := range bs {
			if b.Count > 0 {
				fmt.Fprintf(w, " le=%g:%d", b.LE, int(b.Count))
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nload average at end: %s\n\n", loadAvg())

	v := dispatchVerdicts(cfg, samples)
	v.print(w)
	return nil
}

// dispatchVerdicts checks the PID-visible latency against the targets.
func dispatchVerdicts(cfg dispatchConfig, samples []dispatchSample) *verdicts {
	visible := summarize(durationsOf(samples, dispatchSample.visible))
	var v verdicts
	v.check("dispatch p50", ms(visible.P50), ms(cfg.P50Target), visible.P50 <= cfg.P50Target)
	v.check("dispatch p99", ms(visible.P99), ms(cfg.P99Target), visible.P99 <= cfg.P99Target)
	return &v
}

func (s dispatchSample) visible() time.Duration   { return s.Visible }
func (s dispatchSample) post() time.Duration      { return s.Post }
func (s dispatchSample) spawned() time.Duration   { return s.Spawned }
func (s dispatchSample) execStart() time.Duration { return s.ExecStart }
func (s dispatchSample) execWait() time.Duration  { return s.ExecWait }

// durationsOf is f of every sample.
func durationsOf(ss []dispatchSample, f func(dispatchSample) time.Duration) []time.Duration {
	ds := make([]time.Duration, len(ss))
	for i, s := range ss {
		ds[i] = f(s)
	}
	return ds
}
