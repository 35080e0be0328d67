package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kardianos/service"
	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/argus-exec/argus/agent"
	"github.com/argus-exec/argus/token"
)

// actions are what the CLI asks of package agent and of the host's service
// manager. Tests pass fakes, so that flag handling is tested without a
// server and without touching systemd, launchd or the Windows SCM.
type actions struct {
	register func(ctx context.Context, cfg agent.Config, replace bool) (token.Cache, error)
	run      func(ctx context.Context, cfg agent.Config) error
	// service controls one installed service; nil means the real one
	// (newServiceControl, on github.com/kardianos/service).
	service func(*service.Config) (serviceControl, error)
}

func agentActions() actions {
	return actions{register: agent.Register, run: agent.Run, service: newServiceControl}
}

const description = `Without --register or --reregister the agent runs in the foreground until
SIGINT or SIGTERM. Runs it started keep running when it stops: they belong
to the user, not to the agent.

--register trades a user token (em_live_…, from ARGUS_TOKEN or --token) for
the agent's own token, caches it under --home (0600) and prints the agent id.
--reregister does the same over an existing registration: the agent id stays,
the old token is revoked, and a daemon running beside it carries on with the
new token. A daemon that stops cleanly tells the server, which shows it
offline at once. The user token is read by these two only; prefer
ARGUS_TOKEN to --token, which other local users can see in the process list.

Every setting can also come from the environment (shown in brackets), and
every one but --config from the YAML file that --config names, under the
flag's own name:

   url: https://argus.example.com
   label: gpu-box
   grace-period: 30s
   property: [rack=r12, gpu=a100]

A flag on the command line beats the environment, which beats the file.
Relative paths are relative to the working directory; a leading ~/ is the
home directory.

"argus-agent service install" runs the agent as a systemd, launchd or
Windows service; see argus-agent service --help.

Exit codes:
   0    clean stop (SIGINT or SIGTERM), or registration done
   1    error, explained in one line on stderr
   3    service status: the service is not running
   78   the server rejected the agent's token (revoked or unknown, with no
        new token in the token file), or the
        --home directory, a directory above it or the token file could be
        changed by other users (the message says how to fix it); restarting
        cannot help until someone runs argus-agent --reregister or fixes the
        permissions, so a service manager should not restart on it (under
        launchd the agent exits 0 instead, as launchd cannot tell)`

func newApp(stdout, stderr io.Writer, acts actions) *cli.App {
	flags := agentFlags()
	return &cli.App{
		Name:  "argus-agent",
		Usage: "run recorded commands on this host for an Argus server",
		UsageText: "argus-agent --register [flags]     register this host and print the agent id\n" +
			"argus-agent --reregister [flags]   replace the cached token, keeping the agent id\n" +
			"argus-agent [flags]                run in the foreground until SIGINT or SIGTERM\n" +
			"argus-agent service install|uninstall|start|stop|restart|status|print [flags]\n" +
			"                                   run it as a service (systemd, launchd, Windows)",
		Description:     description,
		Version:         version,
		Reader:          os.Stdin,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		Flags:           flags,
		Commands:        []*cli.Command{serviceCommand(acts)},
		Before:          rootBefore(loadConfigFile(flags)),
		Action: func(c *cli.Context) error {
			return action(c, acts)
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run prints errors once, in one line
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return fmt.Errorf("%v (see argus-agent --help)", err)
		},
	}
}

// Flag names; the config file uses the same names as keys.
const (
	flagRegister   = "register"
	flagReregister = "reregister"
	flagConfig     = "config"
	flagURL        = "url"
	flagToken      = "token"
	flagLabel      = "label"
	flagHome       = "home"
	flagGrace      = "grace-period"
	flagCACert     = "ca-cert"
	flagInsecure   = "insecure-skip-verify"
	flagLogLevel   = "log-level"
	flagLogFormat  = "log-format"
	flagProperty   = "property"
	flagHeartbeat  = "heartbeat-interval"
	flagPollWait   = "poll-wait"
	flagLogFile    = "log-file"
	flagMaxBackoff = "max-backoff"
	flagMaxRuns    = "max-runs"
	flagResources  = "report-resources"
)

// agentFlags builds the flags afresh on each call: urfave/cli writes
// environment values into the flag structs, so they must not be shared.
// Settings are wrapped for altsrc so the config file can set them; the
// one-shot actions and --config itself are not settings.
func agentFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: flagRegister, Usage: "register this host with ARGUS_URL and ARGUS_TOKEN, cache the agent's token, print the agent id, exit"},
		&cli.BoolFlag{Name: flagReregister, Usage: "like --register, replacing an existing registration (same agent id, new token)"},
		&cli.StringFlag{Name: flagConfig, EnvVars: []string{"ARGUS_AGENT_CONFIG"}, TakesFile: true, Usage: "YAML `FILE` of settings, keyed by flag name"},
		altsrc.NewStringFlag(&cli.StringFlag{Name: flagURL, EnvVars: []string{"ARGUS_URL"}, Usage: "server base `URL`, http:// or https://"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: flagToken, EnvVars: []string{"ARGUS_TOKEN"}, Usage: "user token (em_live_…), read by --register and --reregister only; prefer ARGUS_TOKEN"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: flagLabel, EnvVars: []string{"ARGUS_AGENT_LABEL"}, Usage: "name of this agent's identity and token file, so that several agents can share a host"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: flagHome, EnvVars: []string{"ARGUS_AGENT_HOME"}, TakesFile: true, DefaultText: "~/.argus-agent", Usage: "`DIR` for the token, the journal and run logs"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: flagGrace, Value: 10 * time.Second, EnvVars: []string{"ARGUS_GRACE_PERIOD"}, Usage: "on Stop, time between SIGTERM and SIGKILL when the command does not set its own"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: flagCACert, EnvVars: []string{"ARGUS_CA_CERT"}, TakesFile: true, Usage: "PEM `FILE` of CA certificates to trust instead of the system's"}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: flagInsecure, EnvVars: []string{"ARGUS_INSECURE_SKIP_VERIFY"}, Usage: "do not verify the server's TLS certificate (testing only; never implied)"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: flagLogLevel, Value: "info", EnvVars: []string{"ARGUS_LOG_LEVEL"}, Usage: "debug, info, warn or error"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: flagLogFormat, Value: "auto", EnvVars: []string{"ARGUS_LOG_FORMAT"}, Usage: "console, json, or auto (console on a terminal, else JSON)"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: flagLogFile, EnvVars: []string{"ARGUS_LOG_FILE"}, TakesFile: true, Usage: "append logs to `FILE` (0600) instead of stderr; the Windows service uses it, since a service there has no stderr"}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: flagProperty, EnvVars: []string{"ARGUS_PROPERTIES"}, Usage: "`key=value` to send at registration and to give to every run as ARGUS_PROP_KEY; repeatable (comma-separated in ARGUS_PROPERTIES)"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: flagHeartbeat, Value: 10 * time.Second, EnvVars: []string{"ARGUS_HEARTBEAT_INTERVAL"}, Usage: "time between heartbeats"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: flagPollWait, Value: 30 * time.Second, EnvVars: []string{"ARGUS_POLL_WAIT"}, Usage: "how long each long-poll for jobs asks the server to hold"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: flagMaxRuns, EnvVars: []string{"ARGUS_MAX_RUNS"}, Usage: "`N` runs at most at once on this agent; further reruns wait queued on the server (0: no limit)"}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: flagResources, Value: true, EnvVars: []string{"ARGUS_REPORT_RESOURCES"}, Usage: "send load, memory, disk and GPU use with heartbeats, for the UI"}),
		// Hidden, and a flag only (no env var, no config key): tests shorten
		// it to prove recovery from an outage in seconds; operators keep the
		// default, which spares a server that comes back from a fleet
		// retrying in lockstep.
		&cli.DurationFlag{Name: flagMaxBackoff, Value: 30 * time.Second, Hidden: true, Usage: "longest wait between retries while the server is unreachable"},
	}
}

// action runs one of the three modes.
func action(c *cli.Context, acts actions) error {
	if err := noArgs(c.Args().Slice()); err != nil {
		return err
	}
	register, reregister := c.Bool(flagRegister), c.Bool(flagReregister)
	if register && reregister {
		return errors.New("--register and --reregister cannot be used together: --reregister replaces an existing registration, --register makes the first one")
	}
	oneShot := register || reregister
	cfg, closeLog, err := configFrom(c, oneShot)
	if err != nil {
		return err
	}
	defer closeLog()
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()

	if oneShot {
		cache, err := acts.register(ctx, cfg, reregister)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.App.Writer, cache.AgentID)
		return nil
	}
	err = runAgent(ctx, cfg, acts.run)
	if err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil // stopped by a signal: a clean stop however Run words it
	}
	return err
}

// noArgs rejects positional arguments. urfave/cli stops reading flags at
// the first one, so flags after it would be silently lost.
func noArgs(args []string) error {
	if len(args) == 0 {
		return nil
	}
	first := args[0]
	if token.Looks(first) {
		return errors.New("unexpected argument that looks like a token: pass the user token in ARGUS_TOKEN (or --token)")
	}
	for _, a := range args[1:] {
		if strings.HasPrefix(a, "-") {
			return fmt.Errorf("unexpected argument %q: argus-agent takes only flags (or the service subcommand), and none after an argument are read (see argus-agent --help)", first)
		}
	}
	return fmt.Errorf("unexpected argument %q: argus-agent takes only flags, or the service subcommand (see argus-agent --help)", first)
}

// rootBefore loads the config file for the agent itself. Before "service"
// it loads nothing and refuses flags: the service subcommands read their
// own flags and config file, so a flag given before "service" would be
// silently ignored. NumFlags counts flags from the command line only (not
// from the environment, which the subcommands read as well).
func rootBefore(load cli.BeforeFunc) cli.BeforeFunc {
	return func(c *cli.Context) error {
		if c.Args().First() != "service" {
			return load(c)
		}
		if c.NumFlags() > 0 {
			return errors.New("flags go after the service subcommand, as in: argus-agent service install --label gpu1")
		}
		return nil
	}
}
