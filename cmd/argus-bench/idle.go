package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/argus-exec/argus/internal/ctxsleep"
	"github.com/urfave/cli/v2"
)

// idleConfig is everything `argus-bench idle` is told.
type idleConfig struct {
	Stack stackConfig
	// Settle is how long the agent runs before the window opens, so its
	// start-up (registration check, journal, first heartbeat and poll) is
	// not counted as idling.
	Settle   time.Duration
	Duration time.Duration
	// Sample is how often RSS is read inside the window, for its maximum.
	Sample    time.Duration
	RSSTarget float64       // MB (10^6 bytes)
	CPUTarget time.Duration // CPU time per minute
	Strict    bool
}

func idleCommand() *cli.Command {
	return &cli.Command{
		Name:  "idle",
		Usage: "RSS and CPU time of the real argus-agent doing nothing but heartbeats and long-polls",
		Description: "Starts argus-server and argus-agent (default intervals: heartbeat 10s, poll-wait 30s), lets the agent\n" +
			"settle, then watches it for --duration: resident memory from /proc/PID/status at the start, the end and\n" +
			"its maximum, and CPU time (utime+stime of /proc/PID/stat) used in the window, per minute.",
		Flags: append(stackFlags(),
			&cli.DurationFlag{Name: "settle", Value: 5 * time.Second, Usage: "time the agent runs before the window opens"},
			&cli.DurationFlag{Name: "duration", Value: 60 * time.Second, Usage: "length of the measured window"},
			&cli.DurationFlag{Name: "sample", Value: time.Second, Usage: "how often RSS is read inside the window"},
			&cli.Float64Flag{Name: "target-rss-mb", Value: 15, Usage: "highest acceptable RSS, in MB (10^6 bytes)"},
			&cli.DurationFlag{Name: "target-cpu", Value: 60 * time.Millisecond, Usage: "highest acceptable CPU time per minute"},
		),
		Action: func(c *cli.Context) error {
			return runIdle(c.Context, idleConfig{
				Stack: stackConfigFrom(c), Settle: c.Duration("settle"), Duration: c.Duration("duration"),
				Sample: c.Duration("sample"), RSSTarget: c.Float64("target-rss-mb"), CPUTarget: c.Duration("target-cpu"),
				Strict: c.Bool("strict"),
			}, c.App.Writer, c.App.ErrWriter)
		},
	}
}

func (cfg idleConfig) validate() error {
	switch {
	case cfg.Settle < 0:
		return errors.New("--settle must not be negative")
	case cfg.Duration <= 0:
		return errors.New("--duration must be positive")
	case cfg.Sample <= 0:
		return errors.New("--sample must be positive")
	}
	return nil
}

// idleReading is the agent at one instant.
type idleReading struct {
	At       time.Time
	RSSKB    int64
	CPU      time.Duration // utime+stime, 10 ms ticks
	SchedCPU time.Duration // schedstat, nanoseconds (0 when unavailable)
}

func readIdle(pid int) (idleReading, error) {
	st, err := readStat(pid)
	if err != nil {
		return idleReading{}, fmt.Errorf("argus-agent (pid %d): %w", pid, err)
	}
	rss, err := statusNum(pid, "VmRSS")
	if err != nil {
		return idleReading{}, err
	}
	sched, _ := schedCPU(pid) // a cross-check only: absent without schedstats
	return idleReading{At: time.Now(), RSSKB: rss, CPU: st.CPU, SchedCPU: sched}, nil
}

func runIdle(ctx context.Context, cfg idleConfig, stdout, stderr io.Writer) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	s, err := openStack(ctx, cfg.Stack, stdout, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	pid := s.Agent.Proc.PID()

	fmt.Fprintf(stderr, "settling %s, then watching the agent for %s…\n", cfg.Settle, cfg.Duration)
	if !ctxsleep.Sleep(ctx, cfg.Settle) {
		return ctx.Err()
	}
	first, err := readIdle(pid)
	if err != nil {
		return err
	}
	maxRSS := first.RSSKB
	tick := time.NewTicker(cfg.Sample)
	defer tick.Stop()
	end := time.NewTimer(cfg.Duration)
	defer end.Stop()
wait:
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-end.C:
			break wait
		case <-tick.C:
			r, err := readIdle(pid)
			if err != nil {
				return err
			}
			maxRSS = max(maxRSS, r.RSSKB)
		}
		// An agent that died in the window must not read as a frugal one.
		if err := s.Agent.Proc.Exited(); err != nil {
			return err
		}
	}
	last, err := readIdle(pid)
	if err != nil {
		return err
	}
	maxRSS = max(maxRSS, last.RSSKB)
	hwm, _ := statusNum(pid, "VmHWM")
	anon, _ := statusNum(pid, "RssAnon")
	file, _ := statusNum(pid, "RssFile")
	threads, _ := statusNum(pid, "Threads")

	window := last.At.Sub(first.At)
	perMin := func(d time.Duration) time.Duration {
		return time.Duration(float64(d) / window.Minutes())
	}
	// The tick counts are sampled: a process that wakes for microseconds
	// a few times a minute can be charged nothing, or a whole tick. The
	// verdict takes the larger of the two readings.
	cpu := perMin(max(last.CPU-first.CPU, last.SchedCPU-first.SchedCPU))
	mb := func(kb int64) string { return fmt.Sprintf("%.2f MB", float64(kb)*1024/1e6) }

	fmt.Fprintf(stdout, "\nwindow %s after %s settling\n", window.Round(time.Millisecond), cfg.Settle)
	fmt.Fprintf(stdout, "RSS (VmRSS): start %s, end %s, max %s (sampled every %s); peak since start (VmHWM) %s\n",
		mb(first.RSSKB), mb(last.RSSKB), mb(maxRSS), cfg.Sample, mb(hwm))
	fmt.Fprintf(stdout, "RSS at end: anonymous %s, file-backed %s; %d threads\n", mb(anon), mb(file), threads)
	fmt.Fprintf(stdout, "CPU (utime+stime, 10 ms ticks): %s in the window = %s per minute\n",
		ms(last.CPU-first.CPU), ms(perMin(last.CPU-first.CPU)))
	if first.SchedCPU > 0 {
		fmt.Fprintf(stdout, "CPU (schedstat, ns, live threads): %s in the window = %s per minute\n",
			ms(last.SchedCPU-first.SchedCPU), ms(perMin(last.SchedCPU-first.SchedCPU)))
	}
	fmt.Fprintf(stdout, "\nload average at end: %s\n\n", loadAvg())

	var v verdicts
	rssMB := float64(maxRSS) * 1024 / 1e6
	v.check("idle RSS (max in window)", fmt.Sprintf("%.2f MB", rssMB), fmt.Sprintf("%g MB", cfg.RSSTarget), rssMB <= cfg.RSSTarget)
	v.check("idle CPU per minute (larger reading)", ms(cpu), ms(cfg.CPUTarget), cpu <= cfg.CPUTarget)
	v.print(stdout)
	if cfg.Strict {
		return v.err()
	}
	return nil
}
