package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/argus-exec/argus/internal/ctxsleep"
	"github.com/argus-exec/argus/server/api"
)

// logsConfig is everything `argus-bench logs` is told.
type logsConfig struct {
	Stack       stackConfig
	Every       time.Duration // print-lines' period
	Lines       int
	Rate        float64 // write-output's bytes per second
	For         time.Duration
	P50, P99    time.Duration // targets for print → readable
	Ratio       float64       // lowest acceptable throughput ratio, shipped / baseline
	AgentRSSMiB int64
	Strict      bool
}

func logsCommand() *cli.Command {
	return &cli.Command{
		Name:  "logs",
		Usage: "live output through the real argus-server and argus-agent: print → readable latency, and a fast writer's throughput against a baseline",
		Description: "Starts argus-server and argus-agent. Latency: a run prints a timestamped line every --every; a reader\n" +
			"follows GET /api/runs/{id}/log?wait=5s and times each line from its print to its arrival. Throughput: a run\n" +
			"writes --rate bytes/s for --for through the agent (which ships it while it runs), against the same writer\n" +
			"started by argus-bench itself with its output to a plain file (the baseline, before and after); it also\n" +
			"samples the agent's and the server's RSS, and times the end of the run → the whole log on the server.",
		Flags: append(stackFlags(),
			&cli.DurationFlag{Name: "every", Value: 10 * time.Millisecond, Usage: "print a line this often"},
			&cli.IntFlag{Name: "lines", Value: 1000, Usage: "lines to print and time"},
			&cli.Float64Flag{Name: "rate", Value: 50e6, Usage: "bytes per second the fast writer writes"},
			&cli.DurationFlag{Name: "for", Value: 10 * time.Second, Usage: "how long the fast writer writes"},
			&cli.DurationFlag{Name: "p50", Value: 200 * time.Millisecond, Usage: "target for the median print → readable"},
			&cli.DurationFlag{Name: "p99", Value: time.Second, Usage: "target for the 99th percentile print → readable"},
			&cli.Float64Flag{Name: "ratio", Value: 0.95, Usage: "lowest acceptable shipped/baseline throughput"},
			&cli.Int64Flag{Name: "agent-rss", Value: 30, Usage: "highest acceptable agent RSS during the fast writer, MiB"},
		),
		Action: func(c *cli.Context) error {
			return runLogs(c.Context, logsConfig{
				Stack: stackConfigFrom(c), Every: c.Duration("every"), Lines: c.Int("lines"),
				Rate: c.Float64("rate"), For: c.Duration("for"), P50: c.Duration("p50"), P99: c.Duration("p99"),
				Ratio: c.Float64("ratio"), AgentRSSMiB: c.Int64("agent-rss"), Strict: c.Bool("strict"),
			}, c.App.Writer, c.App.ErrWriter)
		},
	}
}

func runLogs(ctx context.Context, cfg logsConfig, stdout, stderr io.Writer) error {
	if cfg.Every <= 0 || cfg.Lines < 1 || cfg.Rate <= 0 || cfg.For <= 0 {
		return errors.New("--every, --lines, --rate and --for must be positive")
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this binary, which the runs execute: %w", err)
	}
	s, err := openStack(ctx, cfg.Stack, stdout, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintf(stderr, "latency: %d lines, one every %s…\n", cfg.Lines, cfg.Every)
	lat, err := s.logLatency(ctx, self, cfg)
	if err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	fmt.Fprintf(stderr, "throughput: %.0f MB/s for %s, baseline and shipped…\n", cfg.Rate/1e6, cfg.For)
	thr, err := s.logThroughput(ctx, self, cfg)
	if err != nil {
		return fmt.Errorf("throughput: %w", err)
	}
	return printLogs(stdout, cfg, lat, thr)
}

// logLatency runs print-lines and follows its log, timing each line.
func (s *stack) logLatency(ctx context.Context, self string, cfg logsConfig) ([]time.Duration, error) {
	batch, err := s.recordBatch(ctx, "print-lines", api.CommandLine{Argv: []string{
		self, "print-lines", "--every", cfg.Every.String(), "--count", strconv.Itoa(cfg.Lines)}})
	if err != nil {
		return nil, err
	}
	q, err := s.rerun(ctx, batch)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(time.Duration(cfg.Lines)*cfg.Every + time.Minute)
	var lat []time.Duration
	var next int64
	var partial []byte
	for time.Now().Before(deadline) {
		p, err := s.User.RunLog(ctx, q.RunID, next, 5*time.Second)
		if err != nil {
			return nil, err
		}
		now := time.Now()
		partial = append(partial, p.Data...)
		for {
			i := bytes.IndexByte(partial, '\n')
			if i < 0 {
				break
			}
			var seq, nanos int64
			if _, err := fmt.Sscanf(string(partial[:i]), "%d %d", &seq, &nanos); err != nil {
				return nil, fmt.Errorf("line %q: %w", partial[:i], err)
			}
			lat = append(lat, now.Sub(time.Unix(0, nanos)))
			partial = partial[i+1:]
		}
		next = p.Next
		if p.Complete {
			if len(lat) != cfg.Lines {
				return nil, fmt.Errorf("read %d lines, the run printed %d", len(lat), cfg.Lines)
			}
			return lat, nil
		}
	}
	return nil, fmt.Errorf("log not complete after the deadline (%d lines read)", len(lat))
}

// throughput is the fast-writer phase's figures.
type throughput struct {
	Base, BaseAfter, Shipped writeReport
	ShipLag                  time.Duration // run ended → whole log on the server
	AgentRSS, AgentHWM       int64         // kB: highest sampled during the run; the agent's peak since start
	ServerRSS0, ServerRSSMax int64         // kB: before the run; highest sampled until the log was whole
}

func (t throughput) ratio() float64 {
	return t.Shipped.MBps() / ((t.Base.MBps() + t.BaseAfter.MBps()) / 2)
}

func (s *stack) logThroughput(ctx context.Context, self string, cfg logsConfig) (throughput, error) {
	var t throughput
	var err error
	if t.Base, err = s.writeBaseline(ctx, self, cfg, "baseline-1"); err != nil {
		return t, err
	}
	report := filepath.Join(s.Dir, "shipped.json")
	batch, err := s.recordBatch(ctx, "write-output", api.CommandLine{Argv: []string{self, "write-output",
		"--rate", strconv.FormatFloat(cfg.Rate, 'f', 0, 64), "--for", cfg.For.String(), "--report", report}})
	if err != nil {
		return t, err
	}
	if t.ServerRSS0, err = statusNum(s.server.Proc.PID(), "VmRSS"); err != nil {
		return t, err
	}
	q, err := s.rerun(ctx, batch)
	if err != nil {
		return t, err
	}
	ended, err := s.sampleUntilEnded(ctx, q.RunID, cfg.For+time.Minute, &t)
	if err != nil {
		return t, err
	}
	if t.Shipped, err = readWriteReport(report); err != nil {
		return t, err
	}
	if err := s.waitLogWhole(ctx, q.RunID, t.Shipped.Bytes, &t); err != nil {
		return t, err
	}
	t.ShipLag = time.Since(ended)
	if t.AgentHWM, err = statusNum(s.Agent.Proc.PID(), "VmHWM"); err != nil {
		return t, err
	}
	t.BaseAfter, err = s.writeBaseline(ctx, self, cfg, "baseline-2")
	return t, err
}

// sampleUntilEnded polls the run every 100 ms until it has ended, and the
// agent's and the server's RSS with it; it returns when the end was seen.
func (s *stack) sampleUntilEnded(ctx context.Context, runID string, within time.Duration, t *throughput) (time.Time, error) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		s.sampleRSS(t, true)
		r, err := s.User.Run(ctx, runID)
		if err != nil {
			return time.Time{}, err
		}
		if r.Status.Ended() {
			if r.Status != api.RunExited || r.ExitCode == nil || *r.ExitCode != 0 {
				return time.Time{}, fmt.Errorf("the writer run ended %s (exit %v, error %q)", r.Status, r.ExitCode, r.Error)
			}
			return time.Now(), nil
		}
		if !ctxsleep.Sleep(ctx, 100*time.Millisecond) {
			return time.Time{}, ctx.Err()
		}
	}
	return time.Time{}, fmt.Errorf("run %s did not end within %s", runID, within)
}

// waitLogWhole holds reads at the end of the log until the server has all
// of it, sampling the server's RSS meanwhile.
func (s *stack) waitLogWhole(ctx context.Context, runID string, size int64, t *throughput) error {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		s.sampleRSS(t, false)
		p, err := s.User.RunLog(ctx, runID, size, time.Second)
		if err != nil {
			return err
		}
		if p.Complete {
			return nil
		}
	}
	return errors.New("the log was not whole on the server within 5m of the run's end")
}

func (s *stack) sampleRSS(t *throughput, agent bool) {
	if kb, err := statusNum(s.server.Proc.PID(), "VmRSS"); err == nil {
		t.ServerRSSMax = max(t.ServerRSSMax, kb)
	}
	if kb, err := statusNum(s.Agent.Proc.PID(), "VmRSS"); err == nil && agent {
		t.AgentRSS = max(t.AgentRSS, kb)
	}
}

// writeBaseline runs the writer from here, its output to a plain file in
// the same directory tree as the agent's logs, with nothing reading it.
func (s *stack) writeBaseline(ctx context.Context, self string, cfg logsConfig, name string) (writeReport, error) {
	out, err := os.Create(filepath.Join(s.Dir, name+".out"))
	if err != nil {
		return writeReport{}, err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	report := filepath.Join(s.Dir, name+".json")
	cmd := exec.CommandContext(ctx, self, "write-output", "--rate", strconv.FormatFloat(cfg.Rate, 'f', 0, 64),
		"--for", cfg.For.String(), "--report", report)
	cmd.Stdout = out
	if err := cmd.Run(); err != nil {
		return writeReport{}, fmt.Errorf("%s: %w", name, err)
	}
	return readWriteReport(report)
}

func readWriteReport(path string) (writeReport, error) {
	var r writeReport
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, &r)
	}
	if err != nil {
		return r, fmt.Errorf("writer report: %w", err)
	}
	return r, nil
}

func printLogs(w io.Writer, cfg logsConfig, lat []time.Duration, t throughput) error {
	st := summarize(lat)
	fmt.Fprintf(w, "\nprint → readable through GET /api/runs/{id}/log?wait=5s, %d lines printed every %s\n\n", len(lat), cfg.Every)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tn\tp50\tp90\tp99\tmax\t")
	fmt.Fprintln(tw, st.row("print → readable"))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nwriter at %.0f MB/s for %s (MB = 10^6 bytes)\n", cfg.Rate/1e6, cfg.For)
	for _, r := range []struct {
		name string
		rep  writeReport
	}{{"baseline (plain file), before", t.Base}, {"run through the agent, shipped", t.Shipped}, {"baseline (plain file), after", t.BaseAfter}} {
		fmt.Fprintf(w, "  %-32s %8.1f MB/s  (%d bytes in %s, behind schedule %s)\n", r.name, r.rep.MBps(), r.rep.Bytes, ms(r.rep.Elapsed), ms(r.rep.Behind))
	}
	fmt.Fprintf(w, "  shipped / baseline: %.3f\n", t.ratio())
	fmt.Fprintf(w, "  run ended → whole log on the server: %s\n", ms(t.ShipLag))
	fmt.Fprintf(w, "  agent RSS: highest sampled %.1f MiB, peak since start (VmHWM) %.1f MiB\n", mib(t.AgentRSS), mib(t.AgentHWM))
	fmt.Fprintf(w, "  server RSS: %.1f MiB before, highest %.1f MiB until the log was whole\n", mib(t.ServerRSS0), mib(t.ServerRSSMax))
	fmt.Fprintf(w, "load average at end: %s\n\n", loadAvg())

	var v verdicts
	v.check("print → readable p50", ms(st.P50), ms(cfg.P50), st.P50 <= cfg.P50)
	v.check("print → readable p99", ms(st.P99), ms(cfg.P99), st.P99 <= cfg.P99)
	v.atLeast("shipped / baseline throughput", fmt.Sprintf("%.3f", t.ratio()), fmt.Sprintf("%.2f", cfg.Ratio), t.ratio() >= cfg.Ratio)
	v.check("agent RSS (VmHWM)", fmt.Sprintf("%.1f MiB", mib(t.AgentHWM)), fmt.Sprintf("%d MiB", cfg.AgentRSSMiB), mib(t.AgentHWM) <= float64(cfg.AgentRSSMiB))
	v.print(w)
	if cfg.Strict {
		return v.err()
	}
	return nil
}

func mib(kb int64) float64 { return float64(kb) / 1024 }
