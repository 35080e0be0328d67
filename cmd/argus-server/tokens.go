package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/token"
)

func tokenCreateCommand(dbFlag cli.Flag) *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "mint a new em_live_ token for an existing user and print it on stdout",
		ArgsUsage: "USER",
		Flags:     []cli.Flag{dbFlag},
		Action: storeAction("argus-server token create [--db FILE|URL] USER",
			func(c *cli.Context, st store.Store, name string) error {
				tok, err := server.CreateToken(c.Context, st, name)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(c.App.Writer, tok)
				return err
			}),
	}
}

func tokenListCommand(dbFlag cli.Flag) *cli.Command {
	return &cli.Command{
		Name:      "list",
		Usage:     "list a user's tokens (and their agents'): ids, created, last used, revoked; never the tokens",
		ArgsUsage: "USER",
		Flags:     []cli.Flag{dbFlag, &cli.BoolFlag{Name: "json", Usage: "one JSON array instead of a table"}},
		Action: storeAction("argus-server token list [--db FILE|URL] [--json] USER",
			func(c *cli.Context, st store.Store, name string) error {
				toks, err := server.ListTokens(c.Context, st, name)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printTokensJSON(c.App.Writer, toks)
				}
				return printTokens(c.App.Writer, toks)
			}),
	}
}

// tokenRow is what token list shows of a token. It is built field by
// field, never from store.Token as a whole, so the hash cannot slip in.
type tokenRow struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	AgentID   string     `json:"agent_id,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	LastUsed  *time.Time `json:"last_used_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

func rowOf(t store.Token) tokenRow {
	kind := "user"
	if t.Kind == token.Agent {
		kind = "agent"
	}
	return tokenRow{ID: t.ID, Kind: kind, AgentID: t.AgentID,
		CreatedAt: t.CreatedAt.UTC(), LastUsed: utc(t.LastUsedAt), RevokedAt: utc(t.RevokedAt)}
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}

func printTokensJSON(w io.Writer, toks []store.Token) error {
	rows := make([]tokenRow, 0, len(toks))
	for _, t := range toks {
		rows = append(rows, rowOf(t))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}

func printTokens(w io.Writer, toks []store.Token) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tAGENT\tCREATED\tLAST USED\tREVOKED")
	for _, t := range toks {
		r := rowOf(t)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Kind, orDash(r.AgentID),
			r.CreatedAt.Format(time.RFC3339), timeOrDash(r.LastUsed), timeOrDash(r.RevokedAt))
	}
	return tw.Flush()
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
