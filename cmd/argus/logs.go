package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/urfave/cli/v2"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/server/api"
)

// followHold is how long each read of a followed log is held by the
// server while nothing new comes.
const followHold = 30 * time.Second

func logsCommand() *cli.Command {
	return withUsage(&cli.Command{
		Name:      "logs",
		Usage:     "print a run's output as the server has it; with -f, follow it until the run ends and exit with the run's exit code",
		ArgsUsage: "RUN",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing output as the run writes it; exit with the run's exit code (128+N for a signal N) once it has ended"},
		},
		Action: withClient([]string{"RUN"}, func(c *cli.Context, cl *client.Client) error {
			runID := c.Args().First()
			if !c.Bool("follow") {
				_, err := copyLog(c.Context, cl, runID, c.App.Writer, c.App.ErrWriter, false)
				return err
			}
			return follow(c, cl, runID)
		}),
	})
}

// follow prints a run's output until the run has ended and all of it is
// in, then ends argus with the run's exit code.
func follow(c *cli.Context, cl *client.Client, runID string) error {
	if _, err := copyLog(c.Context, cl, runID, c.App.Writer, c.App.ErrWriter, true); err != nil {
		return err
	}
	run, err := cl.Run(c.Context, runID)
	if err != nil {
		return err
	}
	if code := runExitCode(run); code != 0 {
		return quietExit{code}
	}
	return nil
}

// copyLog writes a run's output to out from the start: all the server has
// (until a read brings nothing new), or, following, until the log is
// complete. Where the server's cap dropped output, a note on errw says how
// much, so out stays exactly the kept bytes. It returns where it ended.
func copyLog(ctx context.Context, cl *client.Client, runID string, out, errw io.Writer, following bool) (int64, error) {
	var next int64
	hold := time.Duration(0)
	if following {
		hold = followHold
	}
	for {
		p, err := cl.RunLog(ctx, runID, next, hold)
		if err != nil {
			return next, err
		}
		if p.Offset > next {
			fmt.Fprintf(errw, "argus: [%s of output dropped here: the server keeps the first %s and the newest of each run (--log-max)]\n",
				humanize.IBytes(uint64(p.Offset-next)), humanize.IBytes(api.LogHead))
		}
		if _, err := out.Write(p.Data); err != nil {
			return next, err
		}
		next = p.Next
		if p.Complete || (!following && len(p.Data) == 0) {
			return next, nil
		}
	}
}

// signalNumbers are the signals whose numbers POSIX fixes, for the shell's
// 128+N convention; a run ended by another signal exits as a failure (3).
var signalNumbers = map[string]int{
	"SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6,
	"SIGFPE": 8, "SIGKILL": 9, "SIGSEGV": 11, "SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15,
}

// runExitCode is the code `argus logs -f` and `argus rerun --follow` exit
// with for an ended run: its own exit code; 128+N when signal N ended it,
// as a shell reports it; otherwise argus status's code for the outcome (4
// never ran, 6 unknown, 3 failed to start).
func runExitCode(r *api.Run) int {
	switch {
	case r.ExitCode != nil:
		return *r.ExitCode
	case r.Signal != "":
		if n, ok := signalNumbers[r.Signal]; ok {
			return 128 + n
		}
		return exitRunFailed
	}
	return statusExitCode(r)
}
