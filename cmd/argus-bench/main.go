// Command argus-bench measures the real argus-server and argus-agent
// binaries from outside, over loopback sockets, against baselines measured
// in the same run. `argus-bench heartbeat` compares heartbeat throughput of
// argus-server with a bare net/http handler that answers 204, under the same
// load, and prints the ratio. `argus-bench dispatch` times Rerun → PID
// through server and agent against a bare fork+exec of `true`; `idle`
// watches an idle agent's memory and CPU time; `stop` times Stop → death of
// a process tree that ignores SIGTERM, against the grace period; `logs`
// times a printed line → readable through the log API, and a fast
// writer's throughput with the agent shipping its output against the same
// writer into a plain file; `fleet` runs thousands of simulated agents
// (heartbeats, held long-polls, acks) on one argus-server under reruns at a
// fixed rate, and reports latency, errors, and the server's memory per
// agent, CPU and open files.
// BENCHMARKS.md records the method and the figures. Handler-level
// benchmarks (no sockets) are `go test -bench` in package server.
//
// Each subcommand is one scenario built from the same parts: the binaries
// are built, started, made ready and stopped by internal/testenv, the
// harness the end-to-end tests stand on; on it sit the argus-server
// fixture (argus.go), the server-plus-agent fixture (stack.go), the
// baseline (bare.go), the simulated agents of the fleet benchmark
// (fleet_sim.go), the /proc readings the harness has no use for, CPU
// time and memory (procfs.go), the load generator (load.go) and the
// summaries (report.go, stats.go).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

func main() {
	// Ctrl-C and SIGTERM cancel the context, which stops the servers this
	// process started before it removes their files.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the CLI and turns any error into one line on stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if err := newApp(stdout, stderr).RunContext(ctx, args); err != nil {
		fmt.Fprintf(stderr, "argus-bench: %v\n", err)
		return 1
	}
	return 0
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:            "argus-bench",
		Usage:           "benchmark the real argus-server and argus-agent against baselines in separate processes",
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		Commands: []*cli.Command{
			heartbeatCommand(),
			dispatchCommand(),
			idleCommand(),
			stopCommand(),
			logsCommand(),
			fleetCommand(),
			chaosCommand(),
			bareCommand(),
			printLinesCommand(),
			writeOutputCommand(),
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run prints errors once, in one line
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return fmt.Errorf("%v (see argus-bench --help)", err)
		},
	}
}

// prefixWriter labels a child's log lines so two servers' output can be
// told apart on one terminal.
type prefixWriter struct {
	prefix string
	w      io.Writer
}

func (p prefixWriter) Write(b []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line == "" {
			continue
		}
		if _, err := io.WriteString(p.w, p.prefix+line); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}
