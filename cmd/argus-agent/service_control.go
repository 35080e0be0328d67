package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"github.com/kardianos/service"

	"github.com/argus-exec/argus/systemd"
)

// serviceControl is what the service subcommands need of
// github.com/kardianos/service's Service; tests fake it.
type serviceControl interface {
	Install() error
	Uninstall() error
	Start() error
	Stop() error
	Restart() error
	Status() (service.Status, error)
}

// newServiceControl is the real serviceControl. On Linux it insists on
// systemd: on another init system the library would fall back to its own
// SysV or Upstart script, with none of our unit's settings.
func newServiceControl(cfg *service.Config) (serviceControl, error) {
	if runtime.GOOS == "linux" && service.Platform() != "linux-systemd" {
		return nil, fmt.Errorf("this host does not run systemd (found %s): argus-agent service supports systemd on Linux; run argus-agent under your init system yourself", service.Platform())
	}
	svc, err := service.New(controlOnly{}, cfg)
	if err != nil || runtime.GOOS != "linux" {
		return svc, err
	}
	user, _ := cfg.Option["UserService"].(bool)
	return systemdControl{Service: svc, unit: cfg.Name + ".service", user: user}, nil
}

// unitState is implemented by controls that can tell a unit that runs
// from one systemd is restarting in a loop; the library reports both as
// running.
type unitState interface {
	ActiveState() (active, sub string, err error)
}

// systemdControl adds systemd's own view of the unit to the library's.
type systemdControl struct {
	service.Service
	unit string
	user bool
}

func (c systemdControl) ActiveState() (string, string, error) {
	args := []string{"show", "-p", "ActiveState", "-p", "SubState", "--value", c.unit}
	if c.user {
		args = append([]string{"--user"}, args...)
	}
	out, err := exec.Command("systemctl", args...).Output()
	if err != nil {
		return "", "", err
	}
	lines := strings.Fields(string(out))
	if len(lines) != 2 {
		return "", "", fmt.Errorf("systemctl show %s: unexpected output %q", c.unit, out)
	}
	return lines[0], lines[1], nil
}

// controlOnly is the service.Interface of a process that installs or
// controls the service but never runs as it.
type controlOnly struct{}

func (controlOnly) Start(service.Service) error { return nil }
func (controlOnly) Stop(service.Service) error  { return nil }

// exitStatus ends the CLI with code, printing msg as the error line unless
// it is empty.
type exitStatus struct {
	code int
	msg  string
}

func (e exitStatus) Error() string { return e.msg }

// exitNotRunning is status's exit code for anything but running (as LSB
// init scripts do).
const exitNotRunning = 3

func serviceInstall(s *serviceContext) error {
	p, err := s.plan()
	if err != nil {
		return err
	}
	out := s.c.App.Writer
	if s.c.Bool(flagDryRun) {
		return printPlan(s, p)
	}
	ctl, err := s.newControl(p.config)
	if err != nil {
		return err
	}
	label := s.c.String(flagLabel)
	if err := ctl.Install(); err != nil {
		msg := err.Error()
		switch {
		case strings.Contains(msg, "already exists"):
			return fmt.Errorf("%s is already installed: to change its settings run argus-agent service uninstall%s first; to upgrade, replace the binary and run argus-agent service restart%s", p.name, s.hint(label), s.hint(label))
		case errors.Is(err, os.ErrPermission) || strings.Contains(msg, "ermission denied") || strings.Contains(msg, "Access is denied"):
			return fmt.Errorf("install %s: %v (a system service needs root or an elevated prompt; or use --user)", p.name, err)
		}
		return fmt.Errorf("install %s: %v", p.name, err)
	}
	where := p.kind
	if p.path != "" {
		where += " " + p.path
	}
	account := ""
	if p.runAs != "" {
		account = ", running as " + p.runAs
	}
	if s.c.Bool(flagNoStart) {
		fmt.Fprintf(out, "installed %s (%s%s); start it with argus-agent service start%s\n", p.name, where, account, s.hint(label))
	} else {
		if err := ctl.Start(); err != nil {
			return fmt.Errorf("installed %s (%s) but could not start it: %v (logs: %s)", p.name, where, err, s.logHint(p.name))
		}
		fmt.Fprintf(out, "installed and started %s (%s%s)\n", p.name, where, account)
	}
	fmt.Fprintf(out, "logs: %s\n", s.logHint(p.name))
	if s.goos == "linux" && s.c.Bool(flagUser) {
		fmt.Fprintf(out, "a user service stops when you log out unless lingering is on: loginctl enable-linger %s\n", currentUser())
	}
	return nil
}

func servicePrint(s *serviceContext) error {
	p, err := s.plan()
	if err != nil {
		return err
	}
	return printPlan(s, p)
}

// printPlan writes exactly what install would write to stdout, and where
// it would go to stderr, so that stdout can be redirected to a file.
func printPlan(s *serviceContext, p installPlan) error {
	if p.path != "" {
		fmt.Fprintf(s.c.App.ErrWriter, "dry run: install would write this %s to %s; nothing was written\n", p.kind, p.path)
	} else {
		fmt.Fprintf(s.c.App.ErrWriter, "dry run: install would create this %s; nothing was changed\n", p.kind)
	}
	_, err := fmt.Fprint(s.c.App.Writer, p.content)
	return err
}

// control builds the serviceControl of the service the flags name. It
// needs only the name and kind, not a registration.
func (s *serviceContext) control() (serviceControl, string, error) {
	label, err := s.label()
	if err != nil {
		return nil, "", err
	}
	if s.c.Bool(flagUser) && os.Getenv("SUDO_USER") != "" && os.Geteuid() == 0 {
		return nil, "", errors.New("--user acts on the services of the user running the command: run it without sudo")
	}
	name := serviceName(s.goos, label)
	ctl, err := s.newControl(&service.Config{Name: name, Option: service.KeyValue{"UserService": s.c.Bool(flagUser)}})
	return ctl, name, err
}

func serviceUninstall(s *serviceContext) error {
	ctl, name, err := s.control()
	if err != nil {
		return err
	}
	if st, err := ctl.Status(); errors.Is(err, service.ErrNotInstalled) {
		return fmt.Errorf("%s is not installed%s", name, s.otherKind())
	} else if err == nil && st == service.StatusRunning {
		// The library removes the definition without stopping what runs
		// from it (systemd, Windows). Stopping ends the agent only.
		if err := ctl.Stop(); err != nil {
			return fmt.Errorf("stop %s: %v", name, err)
		}
	}
	if err := ctl.Uninstall(); err != nil {
		return fmt.Errorf("uninstall %s: %v", name, err)
	}
	fmt.Fprintf(s.c.App.Writer, "uninstalled %s; runs it started keep running, and its token and journal stay under its --home\n", name)
	return nil
}

func serviceControlAction(action string) func(*serviceContext) error {
	return func(s *serviceContext) error {
		ctl, name, err := s.control()
		if err != nil {
			return err
		}
		if _, err := ctl.Status(); errors.Is(err, service.ErrNotInstalled) {
			return fmt.Errorf("%s is not installed%s", name, s.otherKind())
		}
		switch action {
		case "start":
			err = ctl.Start()
		case "stop":
			err = ctl.Stop()
		default:
			err = ctl.Restart()
		}
		if err != nil {
			return fmt.Errorf("%s %s: %v (logs: %s)", action, name, err, s.logHint(name))
		}
		fmt.Fprintf(s.c.App.Writer, "%s: %s\n", name, map[string]string{"start": "started", "stop": "stopped", "restart": "restarted"}[action])
		return nil
	}
}

func serviceStatus(s *serviceContext) error {
	ctl, name, err := s.control()
	if err != nil {
		return err
	}
	st, err := ctl.Status()
	state := ""
	switch {
	case err == nil && st == service.StatusRunning && restarting(ctl):
		state = "restarting after a failure (see " + s.logHint(name) + ")"
	case err == nil && st == service.StatusRunning:
		fmt.Fprintf(s.c.App.Writer, "%s: running\n", name)
		return nil
	case err == nil && st == service.StatusStopped:
		state = "stopped"
	case errors.Is(err, service.ErrNotInstalled):
		state = "not installed"
	case err != nil && strings.Contains(err.Error(), "failed state"):
		state = "failed"
	default:
		return fmt.Errorf("status of %s: %v", name, err)
	}
	fmt.Fprintf(s.c.App.Writer, "%s: %s\n", name, state)
	return exitStatus{code: exitNotRunning}
}

// logHint says where the service's output goes. The library reports a
// failed systemctl or launchctl by its exit status only.
func (s *serviceContext) logHint(name string) string {
	user := s.c.Bool(flagUser)
	switch s.goos {
	case "linux":
		if user {
			return "journalctl --user -u " + name
		}
		return "journalctl -u " + name
	case "darwin":
		home, _ := os.UserHomeDir()
		return systemd.LaunchdLogPath(home, user, name)
	}
	return name + ".log under the agent's --home"
}

// otherKind suggests the other kind of service when one is not installed.
func (s *serviceContext) otherKind() string {
	if s.goos == "windows" {
		return ""
	}
	if s.c.Bool(flagUser) {
		return " as a per-user service (drop --user for the system one)"
	}
	return " as a system service (add --user for a per-user one)"
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return strconv.Itoa(os.Getuid())
}

// restarting reports whether systemd says the unit is not really running
// but activating or waiting to restart.
func restarting(ctl serviceControl) bool {
	us, ok := ctl.(unitState)
	if !ok {
		return false
	}
	active, sub, err := us.ActiveState()
	return err == nil && !(active == "active" && sub == "running")
}
