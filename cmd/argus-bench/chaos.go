package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/ctxsleep"
	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
)

// chaosConfig is everything `argus-bench chaos` is told.
type chaosConfig struct {
	ServerBin, AgentBin string
	DB                  string // "": SQLite in the temp dir
	Kills               int
	Target              string        // "both", "agent" or "server": what is killed
	Every               time.Duration // mean time between kills
	Rate                float64       // reruns per second
	StopShare           float64       // of reruns, how many get a stop
	Settle              time.Duration
	Keep, Strict        bool
}

func chaosCommand() *cli.Command {
	return &cli.Command{
		Name:  "chaos",
		Usage: "random SIGKILLs of argus-server and argus-agent while reruns and stops flow, then checks that nothing ran twice, was lost, stuck, orphaned or misreported",
		Description: "Starts argus-server (SQLite, or a fresh schema of the PostgreSQL --db) behind a front door that keeps\n" +
			"its URL across restarts, and one argus-agent on this host. Reruns of short recorded commands (0.3 to 8 s,\n" +
			"each noting its start and its end in files) go out at --rate, and --stop-share of them are stopped while\n" +
			"they run. Meanwhile, every --every on average, the server or the agent (at random, one at a time) is\n" +
			"SIGKILLed and started again 0 to 2 s later, --kills times. Then, once everything has settled, it checks\n" +
			"every run the API knows against what the runs wrote: none started twice, none lost, none stuck, none\n" +
			"reported failed or exit-unknown although it ran, exit codes as the command exited, no process left.",
		Flags: []cli.Flag{
			serverBinFlag(),
			agentBinFlag(),
			dbFlag(),
			&cli.IntFlag{Name: "kills", Value: 50, Usage: "SIGKILLs, of the server or the agent at random"},
			&cli.StringFlag{Name: "target", Value: "both", Usage: "what is killed: both (at random), agent or server"},
			&cli.DurationFlag{Name: "every", Value: 4 * time.Second, Usage: "mean time between kills (each 0.5 to 1.5 times it)"},
			&cli.Float64Flag{Name: "rate", Value: 2, Usage: "reruns per second"},
			&cli.Float64Flag{Name: "stop-share", Value: 0.3, Usage: "share of reruns stopped while they run"},
			&cli.DurationFlag{Name: "settle", Value: 2 * time.Minute, Usage: "how long, after the last kill, every run may take to end and be reported"},
			&cli.BoolFlag{Name: "strict", Usage: "exit non-zero when a check fails"},
			&cli.BoolFlag{Name: "keep", Usage: "keep the temp dir (database, journal, run files) and print where it is"},
		},
		Action: func(c *cli.Context) error {
			return runChaos(c.Context, chaosConfig{
				ServerBin: c.String("server-bin"), AgentBin: c.String("agent-bin"), DB: c.String("db"),
				Kills: c.Int("kills"), Target: c.String("target"), Every: c.Duration("every"), Rate: c.Float64("rate"), StopShare: c.Float64("stop-share"),
				Settle: c.Duration("settle"), Keep: c.Bool("keep"), Strict: c.Bool("strict"),
			}, c.App.Writer, c.App.ErrWriter)
		},
	}
}

func (cfg chaosConfig) validate() error {
	switch {
	case cfg.Kills < 0 || cfg.Every <= 0 || cfg.Rate <= 0 || cfg.Settle <= 0:
		return errors.New("--kills must not be negative, and --every, --rate and --settle must be positive")
	case cfg.StopShare < 0 || cfg.StopShare > 1:
		return errors.New("--stop-share must be between 0 and 1")
	case cfg.Target != "both" && cfg.Target != "agent" && cfg.Target != "server":
		return errors.New("--target must be both, agent or server")
	}
	return nil
}

// chaosRunScript is every batch's command: it notes its start and, when it
// gets there, its end, then exits 3. sleep is the batch's own duration.
const chaosRunScript = `echo "$ARGUS_RUN_ID" >> "$CHAOS_DIR/starts"; sleep %s; echo "$ARGUS_RUN_ID" >> "$CHAOS_DIR/ends"; exit 3`

// chaosExit is the code every run that runs to its end exits with.
const chaosExit = 3

// chaos is a running stack under chaos: the server behind its front door,
// the agent, and what the load sent.
type chaos struct {
	cfg      chaosConfig
	dir      string
	agentBin string
	server   *testenv.Server
	user     *client.Client
	token    string
	agentID  string
	home     string
	stderr   io.Writer
	dropDB   func() // the PostgreSQL schema's, nil on SQLite

	mu      sync.Mutex
	agent   *testenv.Agent
	batches []string
	queued  map[string]bool // run ids the server answered 202 for
	unsure  int             // reruns whose answer was lost: they may have been queued
	stops   int
	kills   map[string]int // "server" / "agent" → SIGKILLs
	// serverBack is when each restarted server answered again, and
	// killedAt when each kill was sent: how soon work resumes after a
	// server outage is measured from the first, unless the second says an
	// agent kill came in between (chaos_check.go).
	serverBack, killedAt []time.Time
}

func runChaos(ctx context.Context, cfg chaosConfig, stdout, stderr io.Writer) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	if runtime.GOOS != "linux" {
		return fmt.Errorf("this benchmark reads /proc and runs on Linux only, not %s", runtime.GOOS)
	}
	readMachine().print(stdout)
	c, err := startChaos(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	began := time.Now()
	lctx, stopLoad := context.WithCancel(ctx)
	var load sync.WaitGroup
	load.Go(func() { c.load(lctx) })
	killErr := c.killer(ctx)
	stopLoad()
	load.Wait()
	if killErr != nil {
		return killErr
	}
	fmt.Fprintf(stderr, "%d kills done in %s; letting everything settle…\n", cfg.Kills, time.Since(began).Round(time.Second))
	rep, err := c.settle(ctx)
	if err != nil {
		return err
	}
	rep.Took = time.Since(began)
	v := rep.print(stdout, cfg)
	if cfg.Strict {
		return v.err()
	}
	return nil
}

// startChaos builds the binaries if need be, creates the user, starts the
// server behind its front door, records the batches, and registers and
// starts the agent.
func startChaos(ctx context.Context, cfg chaosConfig, stderr io.Writer) (_ *chaos, err error) {
	dir, err := os.MkdirTemp("", "argus-chaos-")
	if err != nil {
		return nil, err
	}
	c := &chaos{cfg: cfg, dir: dir, stderr: stderr, queued: map[string]bool{}, kills: map[string]int{}}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	builder := testenv.NewBuilder(dir)
	fmt.Fprintln(stderr, "building what is needed…")
	serverBin, err := binary(ctx, builder, cfg.ServerBin, testenv.ServerBin, "--server-bin")
	if err != nil {
		return nil, err
	}
	if c.agentBin, err = binary(ctx, builder, cfg.AgentBin, testenv.AgentBin, "--agent-bin"); err != nil {
		return nil, err
	}
	db := filepath.Join(dir, "chaos.db")
	if cfg.DB != "" {
		if db, _, c.dropDB, err = pgSchema(ctx, cfg.DB); err != nil {
			return nil, err
		}
	}
	if c.token, err = testenv.CreateUser(ctx, serverBin, db, "chaos"); err != nil {
		return nil, err
	}
	c.server, err = testenv.StartServer(ctx, testenv.ServerSpec{
		Bin: serverBin, Dir: dir, DB: db, Restartable: true,
		// PostgreSQL wants a session key, which every restart must keep.
		Args: []string{"--lease", "10s", "--session-key", randomHex(24)},
		Env:  []string{"ARGUS_LOG_LEVEL=warn"}, Log: prefixWriter{prefix: "[argus-server] ", w: stderr},
	})
	if err != nil {
		return nil, err
	}
	if c.user, err = client.New(c.server.URL, c.token, client.Options{Version: "chaos", Timeout: 20 * time.Second}); err != nil {
		return nil, err
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"0.3", "1", "3", "8"} {
		b, err := c.user.CreateBatch(ctx, api.CreateBatchRequest{Project: "chaos", Name: "sleep " + d, EnvSnapshot: api.EnvSnapshot{
			Command: api.CommandLine{Shell: fmt.Sprintf(chaosRunScript, d)}, Cwd: dir, Host: host,
			Env: map[string]string{"PATH": os.Getenv("PATH"), "CHAOS_DIR": dir},
		}})
		if err != nil {
			return nil, fmt.Errorf("record batch: %w", err)
		}
		c.batches = append(c.batches, b.ID)
	}
	c.home = filepath.Join(dir, "agent-home")
	if c.agentID, err = c.server.Register(ctx, c.agentBin, c.home, c.token); err != nil {
		return nil, fmt.Errorf("register argus-agent: %w", err)
	}
	fmt.Fprintln(stderr, "starting argus-agent…")
	return c, c.startAgent(ctx)
}

func (c *chaos) startAgent(ctx context.Context) error {
	a, err := c.server.StartAgent(ctx, testenv.AgentSpec{
		Bin: c.agentBin, Home: c.home, ReadyWithin: time.Minute,
		Args: []string{"--grace-period", "1s", "--log-format", "json", "--log-level", "warn"},
		Log:  prefixWriter{prefix: "[argus-agent] ", w: c.stderr},
	}, c.agentID, c.user)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.agent = a
	c.mu.Unlock()
	return nil
}

// load sends reruns at the configured rate until ctx ends, and stops a
// share of them a moment after they were queued. Failures are expected
// (the server may be down): a rerun whose answer was lost counts as
// unsure, since it may have been queued.
func (c *chaos) load(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	every := time.Duration(float64(time.Second) / c.cfg.Rate)
	for ctxsleep.Sleep(ctx, every) {
		batch := c.batches[rand.IntN(len(c.batches))]
		stop := rand.Float64() < c.cfg.StopShare
		wg.Go(func() {
			q, err := c.user.Rerun(ctx, batch, api.RerunRequest{})
			c.mu.Lock()
			switch {
			case err == nil:
				c.queued[q.RunID] = true
			case client.MayHaveActed(err) && ctx.Err() == nil:
				c.unsure++
			}
			c.mu.Unlock()
			if err != nil || !stop || !ctxsleep.Sleep(ctx, time.Duration(rand.N(2000))*time.Millisecond) {
				return
			}
			if _, err := c.user.Stop(ctx, q.RunID, api.StopRequest{Reason: "chaos"}); err == nil {
				c.mu.Lock()
				c.stops++
				c.mu.Unlock()
			}
		})
	}
}

// killer SIGKILLs the server or the agent, at random, every cfg.Every on
// average, and starts it again 0 to 2 s later, until cfg.Kills are done.
func (c *chaos) killer(ctx context.Context) error {
	for k := range c.cfg.Kills {
		pause := time.Duration(float64(c.cfg.Every) * (0.5 + rand.Float64()))
		if !ctxsleep.Sleep(ctx, pause) {
			return ctx.Err()
		}
		which := c.cfg.Target
		if which == "both" {
			which = []string{"agent", "server"}[rand.IntN(2)]
		}
		fmt.Fprintf(c.stderr, "kill %d/%d: %s\n", k+1, c.cfg.Kills, which)
		if err := c.kill(ctx, which); err != nil {
			return fmt.Errorf("kill %d (%s): %w", k+1, which, err)
		}
	}
	return nil
}

func (c *chaos) kill(ctx context.Context, which string) error {
	c.mu.Lock()
	c.kills[which]++
	c.killedAt = append(c.killedAt, time.Now())
	proc := c.server.Proc
	if which == "agent" {
		proc = c.agent.Proc
	}
	c.mu.Unlock()
	if err := proc.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	if _, err := proc.Wait(10 * time.Second); err != nil {
		return err
	}
	if !ctxsleep.Sleep(ctx, time.Duration(rand.N(2000))*time.Millisecond) {
		return ctx.Err()
	}
	if which == "server" {
		if err := c.server.Restart(ctx); err != nil {
			return err
		}
		c.mu.Lock()
		c.serverBack = append(c.serverBack, time.Now())
		c.mu.Unlock()
		return nil
	}
	return c.startAgent(ctx)
}

// Close stops the agent and the server, kills what the runs left, and
// removes the temp dir unless asked to keep it.
func (c *chaos) Close() {
	c.mu.Lock()
	a := c.agent
	runs := make([]string, 0, len(c.queued))
	for id := range c.queued {
		runs = append(runs, id)
	}
	c.mu.Unlock()
	if a != nil {
		a.Proc.Stop()
	}
	if c.server != nil {
		c.server.Close()
	}
	for _, id := range runs {
		for _, pid := range runPIDs(id) {
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Kill()
			}
		}
	}
	if c.cfg.Keep {
		fmt.Fprintf(c.stderr, "kept %s (and any PostgreSQL schema)\n", c.dir)
		return
	}
	if c.dropDB != nil {
		c.dropDB()
	}
	os.RemoveAll(c.dir)
}
