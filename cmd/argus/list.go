package main

import (
	"github.com/urfave/cli/v2"
)

func batchesCommand() *cli.Command {
	return withUsage(&cli.Command{
		Name:  "batches",
		Usage: "list recorded batches you can see",
		Action: func(c *cli.Context) error {
			if err := needArgs(c); err != nil {
				return err
			}
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			l, err := cl.Batches(c.Context)
			if err != nil {
				return err
			}
			return newPrinter(c).batches(l)
		},
	})
}

func agentsCommand() *cli.Command {
	return withUsage(&cli.Command{
		Name:  "agents",
		Usage: "list your agents and whether they are online",
		Action: func(c *cli.Context) error {
			if err := needArgs(c); err != nil {
				return err
			}
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			l, err := cl.Agents(c.Context)
			if err != nil {
				return err
			}
			return newPrinter(c).agents(l)
		},
	})
}

func shareCommand() *cli.Command {
	return withUsage(&cli.Command{
		Name:      "share",
		Usage:     "let another user rerun and stop a project's batches",
		ArgsUsage: "PROJECT USER",
		Action: func(c *cli.Context) error {
			if err := needArgs(c, "PROJECT", "USER"); err != nil {
				return err
			}
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			pr, err := cl.Share(c.Context, c.Args().Get(0), c.Args().Get(1))
			if err != nil {
				return err
			}
			return newPrinter(c).project(pr)
		},
	})
}
