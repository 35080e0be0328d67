package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/argus-exec/argus/internal/ctxsleep"
	"github.com/urfave/cli/v2"
)

// fleetConfig is everything `argus-bench fleet` is told.
type fleetConfig struct {
	ServerBin   string
	ServeArgs   []string
	DB          string // "": SQLite in the temp dir; postgres://…: a fresh schema there
	Agents      int
	Users       int
	Replicas    int // argus-server processes on the one PostgreSQL schema
	Conns       int // connections per agent: 1 or 2
	OneAddress  bool
	Heartbeat   time.Duration
	PollWait    time.Duration
	Rate        float64
	ProbeRate   float64 // heartbeats per second from random agents
	Duration    time.Duration
	Warmup      time.Duration
	Drain       time.Duration
	ReadyWithin time.Duration
	// DropTo > 0: after the measurement, every agent past the first
	// DropTo stops, and the recovery is measured (fleet_recover.go), with
	// reruns for RecoveryWindow once recovered.
	DropTo         int
	RecoveryWindow time.Duration
	Targets        fleetTargets
	Strict         bool
	Keep           bool
}

// fleetTargets are issue 11's targets for a fleet.
type fleetTargets struct {
	HeartbeatP99, DispatchP99 time.Duration
	AgentKiB                  float64
	Recovery                  time.Duration // after --drop-to
}

// maxSimSockets bounds agents × connections per simulator process. The
// hard open-file limit on the machines this runs on is 20,000 per process,
// and the server holds as many sockets as this process does, plus its
// database and listener, plus the connections of acks and probes that
// come and go: 10,000 kept ones leaves both clear of it.
const maxSimSockets = 10000

func fleetCommand() *cli.Command {
	return &cli.Command{
		Name:  "fleet",
		Usage: "a fleet of simulated agents (heartbeats, held long-polls, acks) on the real argus-server, under reruns at a fixed rate",
		Description: "Starts argus-server (SQLite in a temp dir, or a fresh schema of the PostgreSQL --db), creates --users\n" +
			"users, registers --agents agents over the API (hosts sim-00000…, spread round-robin over the users)\n" +
			"and records one batch per host. Every simulated agent then does what argus-agent does, over its own\n" +
			"transport, from a loopback address of its own (127.1.x.y; --one-address: all from 127.0.0.1): a\n" +
			"held GET /api/agents/{id}/jobs?wait=… that is its heartbeat (with --conns-per-agent 2, also a\n" +
			"heartbeat every --heartbeat on a second kept connection, as agents before did), and for each\n" +
			"rerun: start, ack with a PID, exit report. After --warmup, reruns of random hosts' batches are sent\n" +
			"at --rate per second, open loop, for --duration, and heartbeats from random agents at\n" +
			"--heartbeat-probes per second.\n" +
			"Prints heartbeat, rerun → 202 and rerun → command-at-the-agent latency, errors by kind, commands\n" +
			"delivered twice or to the wrong agent, and the server's memory (per agent), CPU and open files.",
		Flags: []cli.Flag{
			serverBinFlag(),
			&cli.StringSliceFlag{Name: "serve-arg", Usage: "extra flag for argus-server serve (repeatable)"},
			dbFlag(),
			&cli.IntFlag{Name: "agents", Value: 1000, Usage: "simulated agents"},
			&cli.IntFlag{Name: "users", Value: 1, Usage: "users owning the agents, round-robin"},
			&cli.IntFlag{Name: "replicas", Value: 1, Usage: "argus-server replicas on the PostgreSQL --db, taking the agents in turn; each rerun goes to another replica than its agent's (memory, CPU and files are summed)"},
			&cli.IntFlag{Name: "conns-per-agent", Value: 1, Usage: "1: argus-agent today (its held poll is its heartbeat; acks and exits on a connection closed after 5 s idle); 2: the agent before (heartbeats every --heartbeat and acks on a second, kept connection)"},
			&cli.BoolFlag{Name: "one-address", Usage: "every agent connects from 127.0.0.1 (a fleet behind one NAT), not from an address of its own in 127.1.0.0/16"},
			&cli.DurationFlag{Name: "heartbeat", Value: 10 * time.Second, Usage: "heartbeat interval of every agent"},
			&cli.DurationFlag{Name: "poll-wait", Value: 30 * time.Second, Usage: "wait of the jobs long-poll"},
			&cli.Float64Flag{Name: "rate", Value: 20, Usage: "reruns per second, open loop"},
			&cli.Float64Flag{Name: "heartbeat-probes", Value: 20, Usage: "heartbeats per second from random agents, besides their own (agents whose polls succeed send none), to measure heartbeat latency"},
			&cli.DurationFlag{Name: "duration", Value: 60 * time.Second, Usage: "measured length"},
			&cli.DurationFlag{Name: "warmup", Value: 15 * time.Second, Usage: "unmeasured time with every agent started, before the reruns (at least --heartbeat)"},
			&cli.DurationFlag{Name: "drain", Value: 10 * time.Second, Usage: "how long, after the last rerun was answered, its command may take to reach its agent"},
			&cli.DurationFlag{Name: "target-heartbeat-p99", Value: 50 * time.Millisecond, Usage: "highest acceptable heartbeat p99"},
			&cli.DurationFlag{Name: "target-dispatch-p99", Value: 100 * time.Millisecond, Usage: "highest acceptable rerun → command at the agent p99"},
			&cli.Float64Flag{Name: "target-agent-kib", Value: 25, Usage: "highest acceptable server memory per agent, KiB"},
			&cli.IntFlag{Name: "drop-to", Usage: "after the measurement, stop every agent but the first N (the load drops, say under --max-held-polls) and measure the recovery: how long until the server holds every remaining agent's poll and refuses none, then reruns to them for --recovery-window"},
			&cli.DurationFlag{Name: "recovery-window", Value: 20 * time.Second, Usage: "with --drop-to, how long reruns go to the remaining agents once recovered"},
			&cli.DurationFlag{Name: "target-recovery", Value: time.Minute, Usage: "with --drop-to, longest acceptable time from the drop to recovery"},
			&cli.DurationFlag{Name: "ready-timeout", Value: 15 * time.Second, Usage: "how long to wait for the server to come up"},
			&cli.BoolFlag{Name: "strict", Usage: "exit non-zero when a figure misses its target"},
			&cli.BoolFlag{Name: "keep", Usage: "keep the temp dir (and the PostgreSQL schema) and print where they are"},
		},
		Action: func(c *cli.Context) error {
			return runFleet(c.Context, fleetConfig{
				ServerBin: c.String("server-bin"), ServeArgs: c.StringSlice("serve-arg"), DB: c.String("db"),
				Agents: c.Int("agents"), Users: c.Int("users"), Replicas: c.Int("replicas"), Conns: c.Int("conns-per-agent"), OneAddress: c.Bool("one-address"),
				Heartbeat: c.Duration("heartbeat"), PollWait: c.Duration("poll-wait"),
				Rate: c.Float64("rate"), ProbeRate: c.Float64("heartbeat-probes"), Duration: c.Duration("duration"), Warmup: c.Duration("warmup"),
				Drain: c.Duration("drain"), ReadyWithin: c.Duration("ready-timeout"),
				DropTo: c.Int("drop-to"), RecoveryWindow: c.Duration("recovery-window"),
				Targets: fleetTargets{
					HeartbeatP99: c.Duration("target-heartbeat-p99"), DispatchP99: c.Duration("target-dispatch-p99"),
					AgentKiB: c.Float64("target-agent-kib"), Recovery: c.Duration("target-recovery"),
				},
				Strict: c.Bool("strict"), Keep: c.Bool("keep"),
			}, c.App.Writer, c.App.ErrWriter)
		},
	}
}

func (cfg fleetConfig) validate() error {
	switch {
	case cfg.Agents < 1:
		return errors.New("--agents must be at least 1")
	case cfg.Users < 1 || cfg.Users > cfg.Agents:
		return errors.New("--users must be between 1 and --agents")
	case cfg.Replicas < 1 || (cfg.Replicas > 1 && cfg.DB == ""):
		return errors.New("--replicas must be at least 1, and more than 1 needs a PostgreSQL --db: SQLite serves one replica")
	case cfg.Conns != 1 && cfg.Conns != 2:
		return errors.New("--conns-per-agent must be 1 or 2")
	case cfg.Agents*cfg.Conns > maxSimSockets:
		return fmt.Errorf("%d agents × %d connections = %d sockets in this process, and as many in argus-server: "+
			"more than %d, which keeps both under the open-file limit (hard 20,000 per process here, with the "+
			"server's database files and listener besides)", cfg.Agents, cfg.Conns, cfg.Agents*cfg.Conns, maxSimSockets)
	case cfg.Heartbeat <= 0 || cfg.PollWait <= 0:
		return errors.New("--heartbeat and --poll-wait must be positive")
	case cfg.Rate <= 0 || cfg.Duration <= 0:
		return errors.New("--rate and --duration must be positive")
	case int(cfg.Rate*cfg.Duration.Seconds()) < 100:
		return errors.New("--rate × --duration must be at least 100 reruns, so that p99 rests on more than one sample")
	case cfg.Warmup < cfg.Heartbeat:
		return errors.New("--warmup must be at least --heartbeat: agents start spread over one heartbeat interval")
	case cfg.Drain < 0:
		return errors.New("--drain must not be negative")
	case cfg.ReadyWithin <= 0:
		return errors.New("--ready-timeout must be positive")
	case cfg.DropTo < 0 || cfg.DropTo >= cfg.Agents:
		return errors.New("--drop-to must be between 1 and --agents - 1 (or 0: no drop)")
	case cfg.DropTo > 0 && int(cfg.Rate*cfg.RecoveryWindow.Seconds()) < 100:
		return errors.New("--rate × --recovery-window must be at least 100 reruns, so that p99 rests on more than one sample")
	}
	return nil
}

// runFleet sets the fleet up, warms it up, measures, and prints the
// report. stdout gets the results; stderr gets progress and the server's
// own output.
func runFleet(ctx context.Context, cfg fleetConfig, stdout, stderr io.Writer) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	if runtime.GOOS != "linux" {
		return fmt.Errorf("this benchmark reads /proc and runs on Linux only, not %s", runtime.GOOS)
	}
	if err := raiseFileLimit(); err != nil {
		return err
	}
	readMachine().print(stdout)
	rep := fleetReport{cfg: cfg, LoadStart: loadAvg()}

	f, err := openFleet(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	defer f.Close()
	pids := f.pids()
	rep.RSSBefore = sumOver(pids, func(pid int) int64 { n, _ := statusNum(pid, "VmRSS"); return n })

	setupStart := time.Now()
	if err := f.populate(ctx, cfg, stderr); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "registered %d agents and recorded %d batches in %s\n",
		cfg.Agents, cfg.Agents, time.Since(setupStart).Round(time.Millisecond))

	// Every agent starts at a random point of one heartbeat interval, so
	// the heartbeats are spread as a fleet started over time spreads them.
	actx, stopAgents := context.WithCancel(ctx)
	dctx, dropAgents := context.WithCancel(actx) // those past --drop-to
	defer dropAgents()
	var agents sync.WaitGroup
	for i, a := range f.agents {
		delay := rand.N(cfg.Heartbeat)
		runCtx := actx
		if cfg.DropTo > 0 && i >= cfg.DropTo {
			runCtx = dctx
		}
		agents.Go(func() { a.run(runCtx, delay, cfg.Heartbeat, cfg.PollWait, cfg.Conns) })
	}
	defer func() { stopAgents(); agents.Wait() }()
	fmt.Fprintf(stderr, "warming up for %s…\n", cfg.Warmup)
	if !ctxsleep.Sleep(ctx, cfg.Warmup) {
		return ctx.Err()
	}
	for k := range cfg.Replicas {
		n, _ := f.replica(k).PollsHeld(ctx)
		rep.PollsHeld += n
	}

	fmt.Fprintf(stderr, "measuring for %s at %.0f reruns/s…\n", cfg.Duration, cfg.Rate)
	cpu0 := sumOver(pids, func(pid int) int64 { st, _ := readStat(pid); return int64(st.CPU) })
	self0, _ := readStat(os.Getpid())
	t0 := time.Now()
	f.book.setPhase(phaseMeasure)
	var probes sync.WaitGroup
	probes.Go(func() { probeLoad(ctx, f, cfg.ProbeRate, cfg.Duration) })
	rerunLoad(ctx, f, len(f.agents), cfg.Rate, cfg.Duration)
	probes.Wait()
	drainUntil := time.Now().Add(cfg.Drain)
	for f.book.pending() > 0 && time.Now().Before(drainUntil) && ctxsleep.Sleep(ctx, 20*time.Millisecond) {
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	rep.Window = time.Since(t0)
	cpu1 := sumOver(pids, func(pid int) int64 { st, _ := readStat(pid); return int64(st.CPU) })
	self1, _ := readStat(os.Getpid())
	rep.ServerCPU, rep.SimCPU = time.Duration(cpu1-cpu0), self1.CPU-self0.CPU
	rep.RSSAfter = sumOver(pids, func(pid int) int64 { n, _ := statusNum(pid, "VmRSS"); return n })
	rep.HWM = sumOver(pids, func(pid int) int64 { n, _ := statusNum(pid, "VmHWM"); return n })
	rep.SimRSS, _ = statusNum(os.Getpid(), "VmRSS")
	rep.FDs = int(sumOver(pids, func(pid int) int64 { return int64(countFDs(pid)) }))
	rep.LoadEnd = loadAvg()
	f.book.setPhase(phaseStop)

	rep.take(f.book)
	v := rep.print(stdout)
	if cfg.DropTo > 0 {
		rv, err := measureRecovery(ctx, f, cfg, dropAgents, stdout, stderr)
		if err != nil {
			return err
		}
		v.lines, v.failed = append(v.lines, rv.lines...), append(v.failed, rv.failed...)
	}
	if cfg.Strict {
		return v.err()
	}
	return nil
}

// sumOver adds f over the server processes (the replicas): their memory,
// CPU and open files are the fleet's cost.
func sumOver(pids []int, f func(pid int) int64) int64 {
	var n int64
	for _, pid := range pids {
		n += f(pid)
	}
	return n
}

// countFDs is the number of open files of pid, or -1 when /proc says
// nothing.
func countFDs(pid int) int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(ents)
}
