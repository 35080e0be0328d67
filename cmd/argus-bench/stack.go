package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/ctxsleep"
	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
)

// stackConfig is what every agent benchmark is told about the two
// binaries: which to run, with which extra flags, and how long to wait for
// them to come up.
type stackConfig struct {
	ServerBin, AgentBin  string
	ServeArgs, AgentArgs []string
	ReadyWithin          time.Duration
	// Keep leaves the temp dir (database, agent home with its journal and
	// run logs) in place for a post-mortem.
	Keep bool
}

// The flags every benchmark that runs the binaries spells the same way,
// a new one each (a cli flag keeps what it parsed).
func serverBinFlag() cli.Flag {
	return &cli.StringFlag{Name: "server-bin", Usage: "argus-server binary to run (default: go build ./cmd/argus-server into a temp dir)"}
}

func agentBinFlag() cli.Flag {
	return &cli.StringFlag{Name: "agent-bin", Usage: "argus-agent binary to run (default: go build ./cmd/argus-agent into a temp dir)"}
}

func dbFlag() cli.Flag {
	return &cli.StringFlag{Name: "db", Usage: "postgres:// DSN to run on, in a fresh schema dropped at the end (default: SQLite in the temp dir)"}
}

// stackFlags are the flags of stackConfig, shared by dispatch, idle and
// stop so the three set their processes up the same way.
func stackFlags() []cli.Flag {
	return []cli.Flag{
		serverBinFlag(),
		agentBinFlag(),
		&cli.StringSliceFlag{Name: "serve-arg", Usage: "extra flag for argus-server serve (repeatable)"},
		&cli.StringSliceFlag{Name: "agent-arg", Usage: "extra flag for argus-agent, after the benchmark's own, e.g. --agent-arg=--log-level=info (repeatable)"},
		&cli.DurationFlag{Name: "ready-timeout", Value: 15 * time.Second, Usage: "how long to wait for the server and the agent to come up"},
		&cli.BoolFlag{Name: "strict", Usage: "exit non-zero when a figure misses its target"},
		&cli.BoolFlag{Name: "keep", Usage: "keep the temp dir (database, agent journal and run logs) and print its path"},
	}
}

func stackConfigFrom(c *cli.Context) stackConfig {
	return stackConfig{
		ServerBin: c.String("server-bin"), AgentBin: c.String("agent-bin"),
		ServeArgs: c.StringSlice("serve-arg"), AgentArgs: c.StringSlice("agent-arg"),
		ReadyWithin: c.Duration("ready-timeout"), Keep: c.Bool("keep"),
	}
}

// stack is a running argus-server with one user and one argus-agent
// registered to that user on this host: the whole rerun path, on real
// binaries, in a temp dir.
type stack struct {
	Dir   string
	Host  string // this host's name, which the agent registered with
	User  *client.Client
	Agent *testenv.Agent

	server *argusServer
	keep   bool
	stderr io.Writer
	mu     sync.Mutex
	runs   []string // run ids started, for the cleanup sweep
}

// openStack is the start of every agent benchmark: the machine and its load
// go to the report, then the stack is started and the agent's command line
// reported.
func openStack(ctx context.Context, cfg stackConfig, stdout, stderr io.Writer) (*stack, error) {
	if cfg.ReadyWithin <= 0 {
		return nil, errors.New("--ready-timeout must be positive")
	}
	readMachine().print(stdout)
	fmt.Fprintf(stdout, "load average at start: %s\n", loadAvg())
	s, err := startStack(ctx, cfg, stderr)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "agent: %s (pid %d)\n", agentLine(s.Agent.Proc.Cmd.Args), s.Agent.Proc.PID())
	return s, nil
}

// startStack builds what it must, starts the server, registers and starts
// the agent, and returns once the agent is ready as testenv means it (this
// process online on a fresh heartbeat, its long-poll held), so the first
// measured command does not race the agent's start-up. On error
// everything started is stopped again.
func startStack(ctx context.Context, cfg stackConfig, stderr io.Writer) (_ *stack, err error) {
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("this benchmark reads /proc and runs on Linux only, not %s", runtime.GOOS)
	}
	dir, err := os.MkdirTemp("", "argus-bench-")
	if err != nil {
		return nil, err
	}
	s := &stack{Dir: dir, keep: cfg.Keep, stderr: stderr}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.Host, err = os.Hostname(); err != nil {
		return nil, err
	}
	builder := testenv.NewBuilder(dir)
	if cfg.AgentBin == "" {
		fmt.Fprintln(stderr, "building argus-agent…")
	}
	agentBin, err := binary(ctx, builder, cfg.AgentBin, testenv.AgentBin, "--agent-bin")
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(stderr, "starting argus-server…")
	s.server, err = startArgus(ctx, argusConfig{
		Bin: cfg.ServerBin, Builder: builder, ServeArgs: cfg.ServeArgs, Dir: dir, ReadyWithin: cfg.ReadyWithin,
		Logs: prefixWriter{prefix: "[argus-server] ", w: stderr},
	})
	if err != nil {
		return nil, err
	}
	// No retries: a benchmark call that fails should say so, not be
	// repeated and timed as one slow call.
	if s.User, err = client.New(s.server.URL, s.server.UserToken, client.Options{RetryMax: -1, Version: "bench"}); err != nil {
		return nil, err
	}
	fmt.Fprintln(stderr, "registering and starting argus-agent…")
	if err = s.startAgent(ctx, agentBin, cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// startAgent registers an agent home the way an operator does
// (argus-agent --register with ARGUS_URL and ARGUS_TOKEN) and runs the
// agent in the foreground on it with its default intervals.
func (s *stack) startAgent(ctx context.Context, bin string, cfg stackConfig) error {
	home := filepath.Join(s.Dir, "agent-home")
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	id, err := s.server.Register(rctx, bin, home, s.server.UserToken)
	if err != nil {
		return fmt.Errorf("register argus-agent: %w", err)
	}
	// The agent's output goes to agent.log in the temp dir and, as the
	// server's does, to stderr.
	s.Agent, err = s.server.StartAgent(ctx, testenv.AgentSpec{
		Bin: bin, Home: home, ReadyWithin: cfg.ReadyWithin,
		LogPath: filepath.Join(s.Dir, "agent.log"), Log: prefixWriter{prefix: "[argus-agent] ", w: s.stderr},
		// warn, as for the server: no line per run on the benchmark's stderr.
		Args: append([]string{"--log-format", "json", "--log-level", "warn"}, cfg.AgentArgs...),
	}, id, s.User)
	return err
}

// Close stops the agent and the server, kills whatever the benchmark's
// runs left behind (a stop benchmark that failed half-way leaves sleeping
// processes otherwise), and removes the temp dir unless asked to keep it.
func (s *stack) Close() {
	if s.Agent != nil {
		s.Agent.Proc.Stop()
	}
	if s.server != nil {
		s.server.Stop()
	}
	s.mu.Lock()
	runs := slices.Clone(s.runs)
	s.mu.Unlock()
	for _, id := range runs {
		for _, pid := range runPIDs(id) {
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Kill()
			}
		}
	}
	if s.keep {
		fmt.Fprintf(s.stderr, "kept %s\n", s.Dir)
		return
	}
	os.RemoveAll(s.Dir)
}

// recordBatch records a batch run on this host in a fresh cwd, as
// `argus record` would, with the PATH a user's shell would have recorded.
func (s *stack) recordBatch(ctx context.Context, name string, cmd api.CommandLine) (string, error) {
	cwd, err := os.MkdirTemp(s.Dir, "cwd-")
	if err != nil {
		return "", err
	}
	c, err := s.User.CreateBatch(ctx, api.CreateBatchRequest{
		Project: "bench", Name: name,
		EnvSnapshot: api.EnvSnapshot{
			Command: cmd, Cwd: cwd, Host: s.Host,
			Env: map[string]string{"PATH": os.Getenv("PATH")},
		},
	})
	if err != nil {
		return "", fmt.Errorf("record batch: %w", err)
	}
	return c.ID, nil
}

// rerun queues a rerun and remembers its run for the cleanup sweep.
func (s *stack) rerun(ctx context.Context, batchID string) (*api.Queued, error) {
	q, err := s.User.Rerun(ctx, batchID, api.RerunRequest{})
	if err != nil {
		return nil, fmt.Errorf("rerun: %w", err)
	}
	s.mu.Lock()
	s.runs = append(s.runs, q.RunID)
	s.mu.Unlock()
	return q, nil
}

// errRunTimeout marks waitRun's errors for a run that did not get where it
// was awaited in time, as opposed to a failed call.
var errRunTimeout = errors.New("timed out")

// waitRun polls a run every interval until ok accepts it, or fails after
// within (errRunTimeout). A run that failed to start is an error at once.
func (s *stack) waitRun(ctx context.Context, runID, what string, interval, within time.Duration, ok func(*api.Run) bool) (*api.Run, error) {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		r, err := s.User.Run(ctx, runID)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("run %s: %w: not %s within %s", runID, errRunTimeout, what, within)
			}
			return nil, err
		}
		if ok(r) {
			return r, nil
		}
		if r.Status == api.RunFailed {
			return nil, fmt.Errorf("run %s failed: %s", runID, r.Error)
		}
		if err := s.Agent.Proc.Exited(); err != nil {
			return nil, err
		}
		// The benchmark's own waits poll at their own pace (1 ms while a
		// figure is being taken), not at testenv.Poll's.
		if !ctxsleep.Sleep(ctx, interval) {
			return nil, fmt.Errorf("run %s: %w: not %s within %s (last status %s)", runID, errRunTimeout, what, within, r.Status)
		}
	}
}

// agentLine describes the agent's command line for the report, with the
// temp paths shortened.
func agentLine(args []string) string {
	argv := slices.Clone(args)
	for i := range argv {
		if filepath.IsAbs(argv[i]) {
			argv[i] = "<tmp>/" + filepath.Base(argv[i])
		}
	}
	return strings.Join(argv, " ")
}
