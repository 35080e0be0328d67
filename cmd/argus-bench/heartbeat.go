package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
)

// heartbeatConfig is everything `argus-bench heartbeat` is told.
type heartbeatConfig struct {
	ServerBin   string
	ServeArgs   []string
	Agents      int
	Load        loadConfig
	Rounds      int
	Target      float64
	Strict      bool
	ReadyWithin time.Duration
}

func heartbeatCommand() *cli.Command {
	return &cli.Command{
		Name:  "heartbeat",
		Usage: "heartbeat throughput of the real argus-server vs a bare net/http 204 handler, and their ratio",
		Description: "Starts argus-server (over a fresh SQLite file) and a bare net/http server in two child\n" +
			"processes, registers an agent, then drives POST /api/agents/{id}/heartbeat at both with the\n" +
			"same closed-loop load, alternating bare, argus, bare, argus… for --rounds rounds.\n" +
			"Prints per-round req/s and latency, the medians, and argus/bare against --target.",
		Flags: []cli.Flag{
			serverBinFlag(),
			&cli.StringSliceFlag{Name: "serve-arg", Usage: "extra flag for argus-server serve, e.g. --serve-arg=--heartbeat-grain=0 (repeatable)"},
			&cli.IntFlag{Name: "agents", Value: 1, Usage: "agents to register and spread the heartbeats over"},
			&cli.IntFlag{Name: "concurrency", Value: 32, Usage: "concurrent workers, each with its own keep-alive connection"},
			&cli.DurationFlag{Name: "duration", Value: 5 * time.Second, Usage: "measured length of each round, per server"},
			&cli.DurationFlag{Name: "warmup", Value: 500 * time.Millisecond, Usage: "unmeasured load before each round"},
			&cli.IntFlag{Name: "rounds", Value: 3, Usage: "rounds per server, interleaved"},
			&cli.Float64Flag{Name: "target", Value: 0.4, Usage: "lowest acceptable argus/bare throughput ratio"},
			&cli.BoolFlag{Name: "strict", Usage: "exit non-zero when the ratio misses --target"},
			&cli.DurationFlag{Name: "ready-timeout", Value: 15 * time.Second, Usage: "how long to wait for each server to come up"},
		},
		Action: func(c *cli.Context) error {
			cfg := heartbeatConfig{
				ServerBin: c.String("server-bin"),
				ServeArgs: c.StringSlice("serve-arg"),
				Agents:    c.Int("agents"),
				Load: loadConfig{
					Concurrency: c.Int("concurrency"),
					Duration:    c.Duration("duration"),
					Warmup:      c.Duration("warmup"),
				},
				Rounds:      c.Int("rounds"),
				Target:      c.Float64("target"),
				Strict:      c.Bool("strict"),
				ReadyWithin: c.Duration("ready-timeout"),
			}
			return runHeartbeat(c.Context, cfg, c.App.Writer, c.App.ErrWriter)
		},
	}
}

func (cfg heartbeatConfig) validate() error {
	switch {
	case cfg.Agents < 1:
		return errors.New("--agents must be at least 1")
	case cfg.Load.Concurrency < 1:
		return errors.New("--concurrency must be at least 1")
	case cfg.Load.Duration <= 0:
		return errors.New("--duration must be positive")
	case cfg.Load.Warmup < 0:
		return errors.New("--warmup must not be negative")
	case cfg.Rounds < 1:
		return errors.New("--rounds must be at least 1")
	case cfg.ReadyWithin <= 0:
		return errors.New("--ready-timeout must be positive")
	}
	return nil
}

// runHeartbeat sets both servers up, runs the interleaved rounds and
// prints the comparison. stdout gets the results; stderr gets progress and
// the children's own output.
func runHeartbeat(ctx context.Context, cfg heartbeatConfig, stdout, stderr io.Writer) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	readMachine().print(stdout)

	dir, err := os.MkdirTemp("", "argus-bench-")
	if err != nil {
		return err
	}
	// Deferred first, so it runs last: after both children have exited
	// and released the database file.
	defer os.RemoveAll(dir)

	fmt.Fprintln(stderr, "starting argus-server and the bare baseline…")
	argus, err := startArgus(ctx, argusConfig{
		Bin: cfg.ServerBin, Builder: testenv.NewBuilder(dir), ServeArgs: cfg.ServeArgs, Dir: dir,
		ReadyWithin: cfg.ReadyWithin, Logs: prefixWriter{prefix: "[argus-server] ", w: stderr},
	})
	if err != nil {
		return err
	}
	defer argus.Stop()
	bare, err := startBare(ctx, dir, prefixWriter{prefix: "[bare-204] ", w: stderr}, cfg.ReadyWithin)
	if err != nil {
		return err
	}
	defer bare.Stop()

	bareT, argusT, err := heartbeatTargets(ctx, argus, bare.URL, cfg.Agents)
	if err != nil {
		return err
	}
	targets := []target{bareT, argusT}
	fmt.Fprintf(stdout, "load: POST /api/agents/{id}/heartbeat, %d agent(s), %d workers, %s measured (+%s warm-up) per server per round, %d rounds\n\n",
		cfg.Agents, cfg.Load.Concurrency, cfg.Load.Duration, cfg.Load.Warmup, cfg.Rounds)

	cmp := comparison{Baseline: "bare", Subject: "argus", Target: cfg.Target}
	for round := 1; round <= cfg.Rounds; round++ {
		var results []loadResult
		// Alternating within each round spreads any drift of the machine
		// (thermal, other tenants) over both servers alike.
		for _, t := range targets {
			r, err := runLoad(ctx, cfg.Load, t)
			if err != nil {
				return fmt.Errorf("round %d: %w", round, err)
			}
			fmt.Fprintf(stderr, "round %d/%d %-5s %8.0f req/s  p50 %s  p99 %s\n",
				round, cfg.Rounds, t.Name, r.RPS(), ms(r.P50), ms(r.P99))
			results = append(results, r)
		}
		cmp.Rounds = append(cmp.Rounds, results)
	}
	if err := cmp.print(stdout); err != nil {
		return err
	}
	if cfg.Strict && !cmp.Pass() {
		return fmt.Errorf("ratio %.3f is below the target %.2f", cmp.Ratio(), cfg.Target)
	}
	return nil
}

// heartbeatTargets registers n agents and returns the heartbeat load for
// the baseline and for argus-server: the same paths with the same headers
// to both, so the only difference is what the server does with them.
//
// They are registered over the API, as argus-agent --register would, and
// no agent runs: the load generator is every agent, and a thousand of them
// are a thousand requests rather than a thousand processes.
func heartbeatTargets(ctx context.Context, argus *argusServer, bareURL string, n int) (bare, subject target, err error) {
	bare = target{Name: "bare", Method: http.MethodPost, Want: http.StatusNoContent}
	subject = target{Name: "argus", Method: http.MethodPost, Want: http.StatusNoContent}
	user, err := client.New(argus.URL, argus.UserToken, client.Options{RetryMax: -1, Version: "bench"})
	if err != nil {
		return bare, subject, err
	}
	for i := range n {
		reg, err := user.Register(ctx, api.RegisterRequest{
			Hostname: fmt.Sprintf("bench-host-%d", i), OS: "linux", Arch: "amd64", Version: "bench",
		})
		if err != nil {
			return bare, subject, fmt.Errorf("register agent: %w", err)
		}
		if reg.AgentID == "" || reg.Token == "" {
			return bare, subject, errors.New("register agent: answer has no agent_id or token")
		}
		path := "/api/agents/" + reg.AgentID + "/heartbeat"
		header := http.Header{"Authorization": {"Bearer " + reg.Token}}
		bare.Reqs = append(bare.Reqs, request{URL: bareURL + path, Header: header})
		subject.Reqs = append(subject.Reqs, request{URL: argus.URL + path, Header: header})
	}
	return bare, subject, nil
}
