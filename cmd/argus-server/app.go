package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/pgwake"
	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/server/store/postgres"
	"github.com/argus-exec/argus/server/store/sqlite"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func newApp(stdout, stderr io.Writer) *cli.App {
	dbFlag := &cli.StringFlag{
		Name: "db", Value: "./argus.db", EnvVars: []string{"ARGUS_DB"},
		Usage: "SQLite file path (created if missing), or a postgres://… URL for PostgreSQL (several replicas)",
	}
	return &cli.App{
		Name:            "argus-server",
		Usage:           "serve the Argus API and administer its database",
		Version:         version,
		Reader:          os.Stdin,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		Commands: []*cli.Command{
			serveCommand(dbFlag),
			userCommand(dbFlag),
			tokenCommand(dbFlag),
			backupCommand(dbFlag),
		},
		ExitErrHandler: func(*cli.Context, error) {}, // main prints errors once, in one line
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return fmt.Errorf("%v (see argus-server --help)", err)
		},
	}
}

// oneArg returns the single positional argument of a command, or an error
// that says how to call it. urfave/cli stops reading flags at the first
// argument, so a flag typed after it is the usual mistake.
func oneArg(c *cli.Context, usage string) (string, error) {
	if c.NArg() == 1 {
		return c.Args().First(), nil
	}
	for _, a := range c.Args().Slice() {
		if strings.HasPrefix(a, "-") {
			return "", fmt.Errorf("flags go before the argument: %s", usage)
		}
	}
	return "", fmt.Errorf("expected exactly one argument: %s", usage)
}

// openStore opens the engine that the --db value names: PostgreSQL for a
// postgres:// or postgresql:// URL, else a SQLite file.
func openStore(ctx context.Context, db string) (store.Store, error) {
	if postgres.IsDSN(db) {
		return postgres.Open(ctx, db)
	}
	return sqlite.Open(ctx, db)
}

// openWaker returns the Waker that fits the store: on PostgreSQL, replicas
// wake each other's long-polls through LISTEN/NOTIFY; a SQLite file has one
// server, and the in-process waker is enough. close stops it.
func openWaker(ctx context.Context, db string, log *zerolog.Logger) (w server.Waker, stop func(), err error) {
	if !postgres.IsDSN(db) {
		return server.NewLocalWaker(), func() {}, nil
	}
	pw, err := pgwake.Open(ctx, db, pgwake.Config{Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return pw, func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		pw.Close(cctx) //nolint:errcheck // shutting down; nothing to do about it
	}, nil
}

// redactDSN hides a password in a connection string before it is printed.
func redactDSN(dsn string) string {
	if postgres.IsDSN(dsn) {
		return postgres.Redact(dsn)
	}
	return dsn
}

func newLogger(c *cli.Context, w io.Writer) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(c.String("log-level"))
	if err != nil || c.String("log-level") == "" {
		return zerolog.Logger{}, fmt.Errorf("--log-level %q: use debug, info, warn or error", c.String("log-level"))
	}
	out := w
	switch c.String("log-format") {
	case "json":
	case "console":
		out = zerolog.ConsoleWriter{Out: w}
	case "auto":
		if f, ok := w.(*os.File); ok && isTerminal(f) {
			out = zerolog.ConsoleWriter{Out: w}
		}
	default:
		return zerolog.Logger{}, fmt.Errorf("--log-format %q: use console, json or auto", c.String("log-format"))
	}
	return zerolog.New(out).Level(level).With().Timestamp().Logger(), nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
