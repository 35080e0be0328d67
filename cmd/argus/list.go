package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/server/api"
)

// The list commands show one page (the server's 100, or --limit) and,
// when more follow, say on stderr how to get them (--cursor, --all), so a
// listing is never cut short without a word; --json carries next_cursor
// instead. --all follows every page.

// listFlags are the paging flags of every list command, then extra.
func listFlags(extra ...cli.Flag) []cli.Flag {
	return append([]cli.Flag{
		&cli.IntFlag{Name: "limit", Usage: "items per page, 1 to 1000 (default: the server's, 100)"},
		&cli.StringFlag{Name: "cursor", Usage: "start at the page this cursor names (printed by the previous listing)"},
		&cli.BoolFlag{Name: "all", Usage: "follow every page to the end"},
	}, extra...)
}

// pages fetches the page at --cursor or, with --all, that one and every
// page after it. next is the cursor of the page after the last one
// fetched, "" when there is none.
func pages[T any](c *cli.Context, fetch func(client.ListOptions) (items []T, next string, err error)) ([]T, string, error) {
	opts := client.ListOptions{Limit: c.Int("limit"), Cursor: c.String("cursor")}
	var all []T
	for {
		items, next, err := fetch(opts)
		if err != nil {
			return nil, "", err
		}
		all = append(all, items...)
		if next == "" || !c.Bool("all") {
			return all, next, nil
		}
		opts.Cursor = next
	}
}

// moreHint says on stderr that another page follows and how to see it.
// With --json, next_cursor in the output says it instead.
func moreHint(c *cli.Context, next string) {
	if next == "" || c.Bool(flagJSON) {
		return
	}
	fmt.Fprintf(c.App.ErrWriter, "more: repeat with --cursor %s for the next page, or --all for every page\n", next)
}

func batchesCommand() *cli.Command {
	return withUsage(&cli.Command{
		Name:  "batches",
		Usage: "list recorded batches you can see, newest first",
		Flags: listFlags(),
		Action: withClient(nil, func(c *cli.Context, cl *client.Client) error {
			all, next, err := pages(c, func(o client.ListOptions) ([]api.Batch, string, error) {
				l, err := cl.Batches(c.Context, o)
				if err != nil {
					return nil, "", err
				}
				return l.Batches, l.NextCursor, nil
			})
			if err != nil {
				return err
			}
			if err := newPrinter(c).batches(&api.BatchList{Batches: all, NextCursor: next}); err != nil {
				return err
			}
			moreHint(c, next)
			return nil
		}),
	})
}

func agentsCommand() *cli.Command {
	return withUsage(&cli.Command{
		Name:  "agents",
		Usage: "list your agents and whether they are online, newest first",
		Flags: listFlags(),
		Action: withClient(nil, func(c *cli.Context, cl *client.Client) error {
			all, next, err := pages(c, func(o client.ListOptions) ([]api.Agent, string, error) {
				l, err := cl.Agents(c.Context, o)
				if err != nil {
					return nil, "", err
				}
				return l.Agents, l.NextCursor, nil
			})
			if err != nil {
				return err
			}
			if err := newPrinter(c).agents(&api.AgentList{Agents: all, NextCursor: next}); err != nil {
				return err
			}
			moreHint(c, next)
			return nil
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
