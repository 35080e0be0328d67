package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/pgwake"
	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/server/store/postgres"
)

func userCommand(dbFlag cli.Flag) *cli.Command {
	return &cli.Command{
		Name:  "user",
		Usage: "manage users",
		Subcommands: []*cli.Command{{
			Name:      "create",
			Usage:     "create a user and print their new em_live_ token on stdout",
			ArgsUsage: "NAME",
			Flags:     []cli.Flag{dbFlag},
			Action: storeAction("argus-server user create [--db FILE|URL] NAME",
				func(c *cli.Context, st store.Store, name string) error {
					tok, err := server.CreateUser(c.Context, st, name)
					if err != nil {
						return err
					}
					_, err = fmt.Fprintln(c.App.Writer, tok)
					return err
				}),
		}},
	}
}

func tokenCommand(dbFlag cli.Flag) *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "manage tokens",
		Subcommands: []*cli.Command{tokenCreateCommand(dbFlag), tokenListCommand(dbFlag), {
			Name:      "revoke",
			Usage:     "revoke a user or agent token, given the token itself, its tok_… id, or - to read it from stdin",
			ArgsUsage: "TOKEN|ID|-",
			Flags:     []cli.Flag{dbFlag},
			Action: func(c *cli.Context) error {
				arg, err := oneArg(c, "argus-server token revoke [--db FILE|URL] TOKEN|ID|-")
				if err != nil {
					return err
				}
				if arg == "-" { // keeps the token out of argv and shell history
					if arg, err = readLine(c.App.Reader); err != nil {
						return err
					}
				}
				st, err := openStore(c.Context, c.String("db"))
				if err != nil {
					return err
				}
				defer st.Close()
				t, err := server.RevokeToken(c.Context, st, arg)
				if err != nil {
					return err
				}
				if err := announceRevocation(c.Context, c.String("db")); err != nil {
					return fmt.Errorf("revoked %s, but running servers were not told, and may accept it for up to 10s more: %w", t.ID, err)
				}
				_, err = fmt.Fprintf(c.App.ErrWriter, "revoked %s (%s)\n", t.ID, t.Kind)
				return err
			},
		}},
	}
}

// storeAction is the action of an admin command that takes one argument
// (usage says how) and works on the store --db names, closed afterwards.
// (token revoke reads a "-" argument from stdin before it opens the store,
// so it keeps its own.)
func storeAction(usage string, act func(c *cli.Context, st store.Store, arg string) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		arg, err := oneArg(c, usage)
		if err != nil {
			return err
		}
		st, err := openStore(c.Context, c.String("db"))
		if err != nil {
			return err
		}
		defer st.Close()
		return act(c, st, arg)
	}
}

// readLine reads one token from r, trimmed.
func readLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the token from stdin: %w", err)
	}
	if line = strings.TrimSpace(line); line == "" {
		return "", errors.New("no token on stdin: pipe it in, e.g. argus-server token revoke - < token.txt")
	}
	return line, nil
}

// announceRevocation tells running servers that a token was revoked, so
// their caches of verified tokens forget it at once: on PostgreSQL through
// the channel the replicas listen on, on SQLite by replacing the marker
// file beside the database, which servers check on every cached token.
func announceRevocation(ctx context.Context, db string) error {
	if !postgres.IsDSN(db) {
		return server.MarkRevoked(db)
	}
	w, err := pgwake.Open(ctx, db, pgwake.Config{})
	if err != nil {
		return err
	}
	defer w.Close(context.WithoutCancel(ctx)) //nolint:errcheck // the notice is sent or not by then
	return w.Notify(ctx, server.RevokedKey)
}
