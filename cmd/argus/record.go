package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/token"
)

func recordCommand() *cli.Command {
	return withUsage(&cli.Command{
		Name:      "record",
		Usage:     "record a command as a batch, then run it here",
		ArgsUsage: "-- CMD [ARGS...]",
		Description: "Records the command, working directory, host and environment, then runs the\n" +
			"command with this terminal attached and exits with its exit code. Nothing runs\n" +
			"if recording fails.\n\n" +
			"Variables that look like credentials are not recorded, and their names are\n" +
			"listed on stderr: credential names (ARGUS_TOKEN, AWS_SECRET_ACCESS_KEY,\n" +
			"AWS_SESSION_TOKEN, PGPASSWORD, SSH_AUTH_SOCK…, and any name that is or ends in\n" +
			"_TOKEN, _PASSWORD, _PASSWD, _PASS, _PWD, _PASSPHRASE, _SECRET, _KEY, _APIKEY,\n" +
			"_CREDENTIALS or _AUTH, except PWD and GOOGLE_APPLICATION_CREDENTIALS, unless\n" +
			"the value is empty, 0, 1, true, false, yes or no), and values holding an Argus\n" +
			"token, a private key, a URL with a password, a Bearer or Basic authorization,\n" +
			"a JWT, a Slack or Discord webhook URL, or a GitHub, Hugging Face, AWS,\n" +
			"Anthropic, OpenAI, Slack or Stripe key. --keep-env NAME records one all the\n" +
			"same; an Argus token never is.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "project", Value: "default", DefaultText: "your own, default-<user name>", Usage: "project the batch belongs to"},
			&cli.StringFlag{Name: "name", Usage: "batch name (default: the command's basename)"},
			&cli.BoolFlag{Name: "no-run", Usage: "record only; start it later with argus rerun on an agent"},
			&cli.StringSliceFlag{Name: "keep-env", Usage: "record the variable `NAME` even though it looks like a credential; repeatable"},
		},
		Action: recordAction,
	})
}

func recordAction(c *cli.Context) error {
	argv := c.Args().Slice()
	if len(argv) == 0 {
		return errors.New("usage: argus record [--project P] [--name N] -- CMD [ARGS...]")
	}
	// Resolve first: a batch that cannot even start here is not worth
	// recording.
	cmd := exec.Command(argv[0], argv[1:]...)
	if cmd.Err != nil {
		return cmd.Err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	env := client.RecordEnv(os.Environ(), c.StringSlice("keep-env"))
	req, err := snapshot(argv, c.String("project"), c.String("name"), env.Env)
	if err != nil {
		return err
	}
	created, err := cl.CreateBatch(c.Context, req)
	if err != nil {
		return fmt.Errorf("record batch: %w", err)
	}
	fmt.Fprintf(c.App.ErrWriter, "argus: recorded batch %s\n", created.ID)
	reportLeftOut(c.App.ErrWriter, env)
	if c.Bool("no-run") {
		fmt.Fprintln(c.App.Writer, created.ID)
		return nil
	}

	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.App.Reader, c.App.Writer, c.App.ErrWriter
	cmd.Env = childEnv(os.Environ())
	code, err := runChild(c.Context, cmd)
	if err != nil {
		return err
	}
	if code != 0 {
		return childExit{code: code}
	}
	return nil
}

// reportLeftOut names, never with their values, the variables that were
// not recorded, so that a rerun missing one is no mystery.
func reportLeftOut(w io.Writer, env client.RecordedEnv) {
	if len(env.Refused) > 0 {
		fmt.Fprintf(w, "argus: --keep-env %s: an Argus token is never recorded (the server refuses it); pass it to the run another way\n",
			strings.Join(env.Refused, ", "))
	}
	if len(env.Dropped) > 0 {
		fmt.Fprintf(w, "argus: not recorded (look like credentials): %s; keep one with --keep-env NAME\n",
			strings.Join(env.Dropped, ", "))
	}
}

// snapshot describes the launch the way the server records it.
func snapshot(argv []string, project, name string, env map[string]string) (api.CreateBatchRequest, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return api.CreateBatchRequest{}, fmt.Errorf("working directory: %w", err)
	}
	host, err := os.Hostname()
	if err != nil {
		return api.CreateBatchRequest{}, fmt.Errorf("hostname: %w", err)
	}
	if name == "" {
		name = filepath.Base(argv[0])
	}
	return api.CreateBatchRequest{
		Project: project,
		Name:    name,
		EnvSnapshot: api.EnvSnapshot{
			Command: api.CommandLine{Argv: argv},
			Cwd:     cwd,
			Host:    host,
			Env:     env,
		},
	}, nil
}

// childEnv is the environment the recorded command runs with: ours minus
// ARGUS_TOKEN and minus any variable whose value holds an Argus token. The
// child is the user's training script, and tools such as wandb or mlflow
// upload the environment they see.
func childEnv(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if token.InEnv(name, value) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// runChild runs cmd to completion and returns the code argus should exit
// with: the child's own, or 128+signal when a signal killed it, as shells do.
func runChild(ctx context.Context, cmd *exec.Cmd) (int, error) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	if err := cmd.Start(); err != nil {
		return 0, err
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	for {
		select {
		case sig := <-sigs:
			// Ctrl-C already reached the child through the terminal's
			// process group; passing it on would deliver it twice. Other
			// signals were aimed at argus alone and are passed on.
			if sig != os.Interrupt {
				_ = cmd.Process.Signal(sig)
			}
		case err := <-waited:
			return exitCode(cmd.ProcessState, err)
		case <-ctx.Done():
			// Only a caller's cancel gets here (tests); the child is
			// ours to end then.
			_ = cmd.Process.Kill()
			return exitCode(cmd.ProcessState, <-waited)
		}
	}
}

func exitCode(ps *os.ProcessState, err error) (int, error) {
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return 0, err
	}
	if code := ps.ExitCode(); code >= 0 {
		return code, nil
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return 1, nil
}
