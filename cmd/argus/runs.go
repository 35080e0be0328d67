package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/server/api"
)

func rerunCommand() *cli.Command {
	return withUsage(&cli.Command{
		Name:      "rerun",
		Usage:     "rerun a recorded batch on the host it came from",
		ArgsUsage: "BATCH",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "wait", Usage: "wait until the run has started (or ended), then show it"},
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "print the run's output as it runs and exit with its exit code, like argus logs -f"},
			&cli.DurationFlag{Name: "wait-timeout", Value: 60 * time.Second, Usage: "how long --wait waits"},
			&cli.DurationFlag{Name: "timeout", Usage: "stop the run (SIGTERM, grace, SIGKILL) once it has run this long, e.g. 6h (at most 720h)"},
			&cli.StringFlag{Name: "agent", Usage: "agent id, when several agents serve the host"},
			&cli.DurationFlag{Name: "poll-interval", Value: 500 * time.Millisecond, Hidden: true},
		},
		Action: withClient([]string{"BATCH"}, rerunAction),
	})
}

func rerunAction(c *cli.Context, cl *client.Client) error {
	req := api.RerunRequest{AgentID: c.String("agent")}
	if c.IsSet("timeout") {
		// 0 would read as "no timeout" on the wire: refuse it rather
		// than quietly run without one.
		d := c.Duration("timeout")
		if d <= 0 {
			return errors.New("--timeout must be above 0, such as 6h")
		}
		req.Timeout = d.String()
	}
	q, err := cl.Rerun(c.Context, c.Args().First(), req)
	if client.MayHaveActed(err) {
		return fmt.Errorf("%w; the rerun may have been queued all the same: check with `argus runs --batch %s` before you send it again", err, c.Args().First())
	}
	if err != nil {
		return err
	}
	p := newPrinter(c)
	if c.Bool("follow") {
		// The output is the run's: the ids go to stderr.
		fmt.Fprintf(c.App.ErrWriter, "argus: queued run %s; following its output\n", q.RunID)
		return follow(c, cl, q.RunID)
	}
	if !c.Bool("wait") {
		return p.queued(q)
	}
	if !p.json {
		if err := p.queued(q); err != nil {
			return err
		}
	}
	run, err := waitStarted(c.Context, cl, q.RunID, c.Duration("wait-timeout"), c.Duration("poll-interval"))
	if err != nil {
		return err
	}
	return p.run(run, 20)
}

// waitStarted polls a run until it has left "queued", or the timeout ends.
func waitStarted(ctx context.Context, cl *client.Client, runID string, timeout, every time.Duration) (*api.Run, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		run, err := cl.Run(ctx, runID)
		switch {
		case err == nil && run.Status != api.RunQueued:
			return run, nil
		case err != nil && ctx.Err() == nil:
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("run %s still queued after %s: is the agent on the batch's host online? (argus agents)", runID, timeout)
		case <-tick.C:
		}
	}
}

func stopCommand() *cli.Command {
	return withUsage(&cli.Command{
		Name:      "stop",
		Usage:     "stop a running run (SIGTERM to its process group, SIGKILL after the grace period)",
		ArgsUsage: "RUN",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "grace", Usage: "grace period before SIGKILL, e.g. 30s; 0 means the agent's own"},
			&cli.StringFlag{Name: "reason", Usage: "why, kept on the run as stop_reason (one line, at most 500 characters)"},
		},
		Action: func(c *cli.Context) error {
			// Flag errors come before any talk of URLs and tokens.
			if err := needArgs(c, "RUN"); err != nil {
				return err
			}
			if c.Duration("grace") < 0 {
				return errors.New("--grace must not be negative")
			}
			return withClient([]string{"RUN"}, stopAction)(c)
		},
	})
}

func stopAction(c *cli.Context, cl *client.Client) error {
	grace := c.Duration("grace")
	req := api.StopRequest{Reason: c.String("reason")}
	if grace > 0 {
		req.GracePeriod = grace.String()
	}
	q, err := cl.Stop(c.Context, c.Args().First(), req)
	if client.MayHaveActed(err) {
		return fmt.Errorf("%w; the stop may have been queued all the same: check with `argus status %s`", err, c.Args().First())
	}
	if err != nil {
		return err
	}
	return newPrinter(c).queued(q)
}

func statusCommand() *cli.Command {
	return withUsage(&cli.Command{
		Name:      "status",
		Usage:     "show a run: status, outcome, PID, exit code or signal, who asked for it and who stopped it, output tail; exits 0 when it succeeded or is not over, 3 failed, 4 cancelled or expired, 5 stopped, 6 exit unknown",
		ArgsUsage: "RUN",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "tail", Value: 20, Usage: "output lines to show (0: all the server kept)"},
		},
		Action: withClient([]string{"RUN"}, func(c *cli.Context, cl *client.Client) error {
			run, err := cl.Run(c.Context, c.Args().First())
			if err != nil {
				return err
			}
			if err := newPrinter(c).run(run, c.Int("tail")); err != nil {
				return err
			}
			if code := statusExitCode(run); code != exitRunOK {
				return quietExit{code}
			}
			return nil
		}),
	})
}

func runsCommand() *cli.Command {
	return withUsage(&cli.Command{
		Name:  "runs",
		Usage: "list runs you can see, newest first; filters combine",
		Flags: listFlags(
			&cli.StringFlag{Name: "status", Usage: "only runs in this state: queued, running, exited, stopping, stopped or failed"},
			&cli.StringFlag{Name: "batch", Usage: "only runs of this batch (its id)"},
			&cli.StringFlag{Name: "project", Usage: "only runs of this project's batches"},
			&cli.StringFlag{Name: "agent", Usage: "only runs on this agent (its id)"},
		),
		Action: withClient(nil, func(c *cli.Context, cl *client.Client) error {
			filter := client.RunsOptions{Status: api.RunStatus(c.String("status")),
				Batch: c.String("batch"), Project: c.String("project"), Agent: c.String("agent")}
			all, next, err := pages(c, func(o client.ListOptions) ([]api.Run, string, error) {
				filter.ListOptions = o
				l, err := cl.Runs(c.Context, filter)
				if err != nil {
					return nil, "", err
				}
				return l.Runs, l.NextCursor, nil
			})
			if err != nil {
				return err
			}
			if err := newPrinter(c).runs(&api.RunList{Runs: all, NextCursor: next}); err != nil {
				return err
			}
			moreHint(c, next)
			return nil
		}),
	})
}
