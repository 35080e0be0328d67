package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/argus-exec/argus/server/store/postgres"
	"github.com/argus-exec/argus/server/store/sqlite"
)

func backupCommand(dbFlag cli.Flag) *cli.Command {
	return &cli.Command{
		Name:      "backup",
		Usage:     "write a consistent copy of the SQLite database to FILE, while the server runs",
		ArgsUsage: "FILE",
		Flags:     []cli.Flag{dbFlag},
		Action: func(c *cli.Context) error {
			dest, err := oneArg(c, "argus-server backup [--db FILE] BACKUP-FILE")
			if err != nil {
				return err
			}
			db := c.String("db")
			if postgres.IsDSN(db) {
				return errors.New("backup copies a SQLite database; back up PostgreSQL with pg_dump")
			}
			if err := sqlite.Backup(c.Context, db, dest); err != nil {
				return err
			}
			fi, err := os.Stat(dest)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(c.App.ErrWriter, "argus-server: backed up %s to %s (%d bytes)\n", db, dest, fi.Size())
			return err
		},
	}
}
