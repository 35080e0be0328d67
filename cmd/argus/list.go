package main

import (
	"github.com/urfave/cli/v2"

	"github.com/argus-exec/argus/client"
)

func batchesCommand() *cli.Command {
	return withUsage(&cli.Command{
		Name:  "batches",
		Usage: "list recorded batches you can see",
		Action: withClient(nil, func(c *cli.Context, cl *client.Client) error {
			l, err := cl.Batches(c.Context)
			if err != nil {
				return err
			}
			return newPrinter(c).batches(l)
		}),
	})
}

func agentsCommand() *cli.Command {
	return withUsage(&cli.Command{
		Name:  "agents",
		Usage: "list your agents and whether they are online",
		Action: withClient(nil, func(c *cli.Context, cl *client.Client) error {
			l, err := cl.Agents(c.Context)
			if err != nil {
				return err
			}
			return newPrinter(c).agents(l)
		}),
	})
}

func shareCommand() *cli.Command {
	return withUsage(&cli.Command{
		Name:      "share",
		Usage:     "let another user rerun and stop a project's batches",
		ArgsUsage: "PROJECT USER",
		Action: withClient([]string{"PROJECT", "USER"}, func(c *cli.Context, cl *client.Client) error {
			pr, err := cl.Share(c.Context, c.Args().Get(0), c.Args().Get(1))
			if err != nil {
				return err
			}
			return newPrinter(c).project(pr)
		}),
	})
}

func unshareCommand() *cli.Command {
	return withUsage(&cli.Command{
		Name:      "unshare",
		Usage:     "stop sharing a project with a user (with --json, prints nothing)",
		ArgsUsage: "PROJECT USER",
		Action: withClient([]string{"PROJECT", "USER"}, func(c *cli.Context, cl *client.Client) error {
			project, user := c.Args().Get(0), c.Args().Get(1)
			if err := cl.Unshare(c.Context, project, user); err != nil {
				return err
			}
			return newPrinter(c).unshared(project, user)
		}),
	})
}
