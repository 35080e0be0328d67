package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/token"
)

// Global flag names, shared by newApp and the helpers that read them.
const (
	flagURL      = "url"
	flagToken    = "token"
	flagCACert   = "ca-cert"
	flagInsecure = "insecure-skip-tls-verify"
	flagJSON     = "json"
	flagDebug    = "debug"
	flagUTC      = "utc"

	envToken = "ARGUS_TOKEN"
)

// tokenFlagWarning is printed whenever the token came from --token rather
// than from ARGUS_TOKEN.
const tokenFlagWarning = "argus: warning: --token is visible to other local users in ps; prefer ARGUS_TOKEN"

func run(args []string) int {
	return runApp(context.Background(), newApp(os.Stdout, os.Stderr), args)
}

// runApp runs the CLI and turns its outcome into an exit code: the child's
// own code for record, the run's verdict for status (outcome.go), 1 with a
// one-line "argus: ..." for any error.
func runApp(ctx context.Context, app *cli.App, args []string) int {
	err := app.RunContext(ctx, reorderArgs(app, args))
	if err == nil {
		return 0
	}
	var child childExit
	if errors.As(err, &child) {
		return child.code
	}
	var quiet quietExit
	if errors.As(err, &quiet) {
		return quiet.code
	}
	fmt.Fprintln(app.ErrWriter, "argus: "+token.Redact(describe(err)))
	return 1
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:    "argus",
		Usage:   "record training runs, rerun and stop them on their hosts",
		Version: version,
		Writer:  stdout, ErrWriter: stderr,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: flagURL, Usage: "argus-server URL", EnvVars: []string{"ARGUS_URL"}},
			// Hidden: argv is visible to every local user (ps, /proc). The
			// token is read from ARGUS_TOKEN; the flag is kept for old
			// scripts and warns when used.
			&cli.StringFlag{Name: flagToken, Hidden: true, Usage: "your em_live_ token; prefer ARGUS_TOKEN, as flags are visible to other local users in ps"},
			&cli.StringFlag{Name: flagCACert, Usage: "PEM CA bundle for the server's certificate", EnvVars: []string{"ARGUS_CA_CERT"}},
			&cli.BoolFlag{Name: flagInsecure, Usage: "do not verify the server's certificate (unsafe)"},
			&cli.BoolFlag{Name: flagJSON, Usage: "print raw JSON for scripts"},
			&cli.BoolFlag{Name: flagDebug, Usage: "log HTTP attempts and retries to stderr"},
			&cli.BoolFlag{Name: flagUTC, Usage: "show times in UTC instead of this machine's zone", EnvVars: []string{"ARGUS_UTC"}},
		},
		Commands: []*cli.Command{
			recordCommand(), rerunCommand(), stopCommand(), statusCommand(), logsCommand(),
			runsCommand(), batchesCommand(), agentsCommand(), shareCommand(), unshareCommand(),
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("unknown command %q (see --help)", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		// runApp owns messages and exit codes; cli must not exit on its own.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   usageError,
	}
}

// usageError replaces cli's help dump with one line.
func usageError(_ *cli.Context, err error, _ bool) error {
	return fmt.Errorf("%w (see --help)", err)
}

// newClient builds the API client from the global flags, catching the
// common setup mistakes before any request.
func newClient(c *cli.Context) (*client.Client, error) {
	baseURL := c.String(flagURL)
	tok := strings.TrimSpace(c.String(flagToken))
	if tok != "" {
		fmt.Fprintln(c.App.ErrWriter, tokenFlagWarning)
	} else {
		tok = strings.TrimSpace(os.Getenv(envToken))
	}
	if baseURL == "" {
		return nil, errors.New("ARGUS_URL is not set: export ARGUS_URL=https://<your argus-server> (or pass --url)")
	}
	if tok == "" {
		return nil, errors.New("ARGUS_TOKEN is not set: export ARGUS_TOKEN=em_live_... (from `argus-server user create`)")
	}
	kind, err := token.Parse(tok)
	if err != nil {
		return nil, fmt.Errorf("ARGUS_TOKEN: %w", err)
	}
	if kind != token.User {
		return nil, errors.New("ARGUS_TOKEN holds an agent token (ag_live_...); the argus CLI needs your user token (em_live_...)")
	}
	opts := client.Options{
		CACertFile:         c.String(flagCACert),
		InsecureSkipVerify: c.Bool(flagInsecure),
		Version:            version,
	}
	if c.Bool(flagDebug) {
		opts.Logger = zerolog.New(zerolog.ConsoleWriter{Out: c.App.ErrWriter, NoColor: true}).
			Level(zerolog.DebugLevel).With().Timestamp().Logger()
	}
	return client.New(baseURL, tok, opts)
}

// describe is the one line shown for an error.
func describe(err error) string {
	if errors.Is(err, client.ErrUnauthorized) {
		return "token rejected: check ARGUS_TOKEN"
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

// childExit carries a recorded command's exit code out through cli.
type childExit struct{ code int }

func (e childExit) Error() string { return fmt.Sprintf("command exited with code %d", e.code) }

// withUsage gives a subcommand the one-line usage errors of the app.
func withUsage(cmd *cli.Command) *cli.Command {
	cmd.OnUsageError = usageError
	return cmd
}

// needArgs checks a subcommand's positional arguments.
// withClient is the Action of a command that takes exactly the named
// arguments and talks to the server: it checks the arguments, builds the
// client, and hands both to act.
func withClient(names []string, act func(c *cli.Context, cl *client.Client) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		if err := needArgs(c, names...); err != nil {
			return err
		}
		for i, arg := range c.Args().Slice() {
			if token.Looks(arg) {
				// Not sent: it would travel in a URL path, into access logs.
				return fmt.Errorf("%s looks like a token, not an id: tokens go in ARGUS_TOKEN and nowhere else (if it is yours, revoke it: argus-server token revoke -)", names[i])
			}
		}
		cl, err := newClient(c)
		if err != nil {
			return err
		}
		return act(c, cl)
	}
}

func needArgs(c *cli.Context, names ...string) error {
	if c.NArg() == len(names) {
		return nil
	}
	return fmt.Errorf("usage: argus %s %s", c.Command.Name, strings.Join(names, " "))
}
