package main

import (
	"errors"
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
				if c.NArg() != 1 {
					return errors.New("user create needs exactly one NAME, e.g. argus-server user create alice")
				}
				st, err := openStore(c.Context, c.String("db"))
				if err != nil {
					return err
				}
				defer st.Close()
				tok, err := server.CreateUser(c.Context, st, c.Args().First())
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
				if c.NArg() != 1 {
					return errors.New("token revoke needs exactly one token or token id")
				}
				st, err := openStore(c.Context, c.String("db"))
				if err != nil {
					return err
				}
				defer st.Close()
				t, err := server.RevokeToken(c.Context, st, c.Args().First())
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(c.App.ErrWriter, "revoked %s (%s)\n", t.ID, t.Kind)
				return err
			},
		}},
	}
}
