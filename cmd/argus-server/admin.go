package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/argus-exec/argus/server"
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
			Action: func(c *cli.Context) error {
				name, err := oneArg(c, "argus-server user create [--db FILE] NAME")
				if err != nil {
					return err
				}
				st, err := openStore(c.Context, c.String("db"))
				if err != nil {
					return err
				}
				defer st.Close()
				tok, err := server.CreateUser(c.Context, st, name)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(c.App.Writer, tok)
				return err
			},
		}},
	}
}

func tokenCommand(dbFlag cli.Flag) *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "manage tokens",
		Subcommands: []*cli.Command{{
			Name:      "revoke",
			Usage:     "revoke a user or agent token, given the token itself or its tok_… id",
			ArgsUsage: "TOKEN|ID",
			Flags:     []cli.Flag{dbFlag},
			Action: func(c *cli.Context) error {
				arg, err := oneArg(c, "argus-server token revoke [--db FILE] TOKEN|ID")
				if err != nil {
					return err
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
				_, err = fmt.Fprintf(c.App.ErrWriter, "revoked %s (%s)\n", t.ID, t.Kind)
				return err
			},
		}},
	}
}
