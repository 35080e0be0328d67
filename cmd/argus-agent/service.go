package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/kardianos/service"
	"github.com/urfave/cli/v2"

	"github.com/argus-exec/argus/token"
)

const serviceDescription = `install writes the service definition, enables it at boot (or login, with
--user) and starts it; --dry-run (or "service print") writes it to stdout
instead and changes nothing. The agent must be registered first, with the
same --home and --label: the service runs "argus-agent --home DIR
[--label LABEL] …" and reads the cached token file. No token is ever
written into a unit, plist, registry value or environment.

   Linux    systemd: /etc/systemd/system/argus-agent.service, or
            ~/.config/systemd/user/ with --user; a --label gets an instance
            of the template argus-agent@.service (argus-agent@LABEL).
   macOS    launchd: /Library/LaunchDaemons/argus-agent[-LABEL].plist, or
            ~/Library/LaunchAgents/ with --user; logs in /Library/Logs or
            ~/Library/Logs.
   Windows  the service manager: argus-agent[-LABEL], logging to
            argus-agent[-LABEL].log under --home.

A system service runs as the owner of the token file on Linux and macOS:
register as yourself, then "sudo argus-agent service install" (under sudo
the default --home is the invoking user's). On Windows it runs as
LocalSystem unless --run-as names an account (its password in
ARGUS_RUN_AS_PASSWORD).

Settings given on the command line or in the environment (--url,
--grace-period, --ca-cert, --property, …) are written into the service's
arguments, since a service does not see your shell; --config is passed
as is, so the service reads that file. The service logs JSON lines unless
--log-format says otherwise. Runs the agent started keep running
through stop, restart, uninstall and upgrades (replace the binary, then
"argus-agent service restart").

status prints running, stopped, failed or not installed, and exits 0 only
when running (3 otherwise).`

// Service flag names.
const (
	flagUser    = "user"
	flagRunAs   = "run-as"
	flagDryRun  = "dry-run"
	flagNoStart = "no-start"
)

// serviceCommand is "argus-agent service …". Every subcommand takes the
// agent's settings flags, with the same environment variables and config
// file, so that it names the same agent (--home, --label) and bakes the
// same settings into the service as "argus-agent" alone would use.
func serviceCommand(acts actions) *cli.Command {
	newControl := acts.service
	if newControl == nil {
		newControl = newServiceControl
	}
	sub := func(name, usage string, extra []cli.Flag, act func(*serviceContext) error) *cli.Command {
		flags := settingsFlags()
		explicit := map[string]bool{}
		load := loadConfigFile(flags)
		flags = append(flags, &cli.BoolFlag{Name: flagUser, Usage: "a per-user service (systemd --user unit, launchd LaunchAgent) instead of a system one"})
		flags = append(flags, extra...)
		return &cli.Command{
			Name: name, Usage: usage, Flags: flags, HideHelpCommand: true,
			Before: func(c *cli.Context) error {
				// What the user set, before the config file fills the rest:
				// only that is written into the service's arguments.
				for _, f := range flags {
					if c.IsSet(f.Names()[0]) {
						explicit[f.Names()[0]] = true
					}
				}
				return load(c)
			},
			Action: func(c *cli.Context) error {
				if err := noArgs(c.Args().Slice()); err != nil {
					return err
				}
				return act(&serviceContext{c: c, explicit: explicit, newControl: newControl, goos: runtime.GOOS})
			},
			OnUsageError: func(c *cli.Context, err error, _ bool) error {
				return fmt.Errorf("%v (see argus-agent service %s --help)", err, name)
			},
		}
	}
	runAs := func() cli.Flag {
		return &cli.StringFlag{Name: flagRunAs, Usage: "`ACCOUNT` a system service runs as; on Linux and macOS it must own the token file (the default), on Windows the default is LocalSystem"}
	}
	return &cli.Command{
		Name:            "service",
		Usage:           "install, control and inspect the agent's service",
		UsageText:       "argus-agent service install|uninstall|start|stop|restart|status|print [--user] [--label LABEL] [flags]",
		Description:     serviceDescription,
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			sub("install", "install the service, enable it and start it", []cli.Flag{runAs(),
				&cli.BoolFlag{Name: flagDryRun, Usage: "print what install would write, and write nothing"},
				&cli.BoolFlag{Name: flagNoStart, Usage: "install and enable, but do not start it now"},
			}, serviceInstall),
			sub("print", "print what install would write (install --dry-run)", []cli.Flag{runAs()}, servicePrint),
			sub("uninstall", "stop the service and remove it (its runs keep running)", nil, serviceUninstall),
			sub("start", "start the installed service", nil, serviceControlAction("start")),
			sub("stop", "stop the service (its runs keep running)", nil, serviceControlAction("stop")),
			sub("restart", "restart the service, e.g. after replacing the binary", nil, serviceControlAction("restart")),
			sub("status", "print running, stopped, failed or not installed; exit 3 unless running", nil, serviceStatus),
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return fmt.Errorf("unknown service subcommand %q: use install, uninstall, start, stop, restart, status or print", c.Args().First())
			}
			return errors.New("service needs a subcommand: install, uninstall, start, stop, restart, status or print (see argus-agent service --help)")
		},
	}
}

// settingsFlags are the agent's settings: everything but the one-shot
// actions and the user token, which a service never sees.
func settingsFlags() []cli.Flag {
	var out []cli.Flag
	for _, f := range agentFlags() {
		switch f.Names()[0] {
		case flagRegister, flagReregister, flagToken:
		default:
			out = append(out, f)
		}
	}
	return out
}

// serviceContext is one service subcommand being run.
type serviceContext struct {
	c          *cli.Context
	explicit   map[string]bool // settings set by flag or environment
	newControl func(*service.Config) (serviceControl, error)
	goos       string
}

func (s *serviceContext) label() (string, error) {
	label := s.c.String(flagLabel)
	if label != "" {
		if err := token.ValidLabel(label); err != nil {
			return "", err
		}
	}
	return label, nil
}

// hint repeats the flags that name this service, for messages.
func (s *serviceContext) hint(label string) string {
	h := ""
	if s.c.Bool(flagUser) {
		h += " --user"
	}
	if label != "" {
		h += " --label " + label
	}
	return h
}

// plan checks everything install needs and renders what it would write.
func (s *serviceContext) plan() (installPlan, error) {
	c := s.c
	// The checks the agent makes at start, without opening --log-file:
	// that is the service's to create.
	if _, err := newLogger(c.String(flagLogLevel), c.String(flagLogFormat), io.Discard); err != nil {
		return installPlan{}, err
	}
	cfg, err := settingsFrom(c, false)
	if err != nil {
		return installPlan{}, err
	}
	label := cfg.Label
	user := c.Bool(flagUser)
	if user && os.Getenv("SUDO_USER") != "" && os.Geteuid() == 0 {
		return installPlan{}, errors.New("--user installs a service for the user running the command: run it without sudo")
	}
	home, err := s.serviceHome()
	if err != nil {
		return installPlan{}, err
	}
	tokenPath := token.CachePath(home, label)
	cache, err := token.LoadCacheOwnedBy(tokenPath, registrationOwner(home, tokenPath))
	if errors.Is(err, token.ErrCacheMissing) {
		return installPlan{}, fmt.Errorf("the agent is not registered (no token at %s): run argus-agent --register%s first, then install the service", tokenPath, registerHint(home, label))
	}
	if err != nil {
		return installPlan{}, err
	}
	if cfg.URL != "" && strings.TrimRight(cfg.URL, "/") != strings.TrimRight(cache.URL, "/") {
		return installPlan{}, fmt.Errorf("this agent is registered with %s, not %s: run argus-agent --reregister to move it, or drop --url", cache.URL, redactURL(cfg.URL))
	}
	runAs, err := serviceAccount(s.goos, tokenPath, user, c.String(flagRunAs))
	if err != nil {
		return installPlan{}, err
	}
	exe, err := os.Executable()
	if err != nil {
		return installPlan{}, fmt.Errorf("cannot find this program's path: %v", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return installPlan{}, err
	}
	if err := checkRootBinary(exe, !user && runAs == "" && s.goos != "windows"); err != nil {
		return installPlan{}, err
	}
	name := serviceName(s.goos, label)
	args, err := s.serviceArgs(home, name)
	if err != nil {
		return installPlan{}, err
	}
	userHome, err := os.UserHomeDir()
	if err != nil && (user || s.goos == "darwin") {
		return installPlan{}, fmt.Errorf("cannot find your home directory: %v", err)
	}
	return buildPlan(planInput{
		goos: s.goos, user: user, label: label, exe: exe, args: args, runAs: runAs,
		password: os.Getenv("ARGUS_RUN_AS_PASSWORD"), userHome: userHome,
	})
}
