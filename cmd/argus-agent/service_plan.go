package main

import (
	"errors"
	"fmt"
	"path" // systemd and launchd paths are Unix paths, whatever the host
	"strings"

	"github.com/kardianos/service"

	"github.com/argus-exec/argus/systemd"
	"github.com/argus-exec/argus/token"
)

// installPlan is everything "service install" does, worked out before
// anything is written, so that --dry-run and "service print" show exactly
// what install would write.
type installPlan struct {
	name    string // argus-agent, argus-agent@LABEL (systemd) or argus-agent-LABEL
	kind    string // "systemd system unit", "launchd agent", …
	path    string // the file install writes; "" on Windows (the SCM keeps it)
	content string // what install writes there; on Windows, the SCM entry in words
	runAs   string // the account the service runs as; "" for root or LocalSystem
	config  *service.Config
}

// planInput is what the plan is made of, gathered by the CLI (service.go).
type planInput struct {
	goos     string   // the target system, runtime.GOOS outside tests
	user     bool     // per-user service (systemd --user, LaunchAgent)
	label    string   // "" for the default agent
	exe      string   // absolute path of this binary
	args     []string // the agent's arguments, --label not included
	runAs    string   // account of a system service; "" for root (Windows: LocalSystem)
	password string   // Windows only: the password of runAs, for the SCM
	userHome string   // the installing user's home, for per-user files
}

// serviceName names the service of a label. systemd uses an instance of
// the template argus-agent@.service; launchd and the SCM have no
// templates, so the label is part of the name.
func serviceName(goos, label string) string {
	switch {
	case label == "":
		return "argus-agent"
	case goos == "linux":
		return "argus-agent@" + label
	default:
		return "argus-agent-" + label
	}
}

// labelArgs puts --label in front of args where the service definition
// does not supply it itself (everywhere but systemd's template).
func labelArgs(goos, label string, args []string) []string {
	if label == "" || goos == "linux" {
		return args
	}
	return append([]string{"--label", label}, args...)
}

// buildPlan renders the service definition for in. The rendered text goes
// to kardianos/service as its SystemdScript or LaunchdConfig option, which
// it runs through its own small template engine with its own data before
// writing the file. Text without "{{" passes through that engine unchanged
// (it is a single literal node), so the text is rendered here, in full,
// and checked for "{{": what --dry-run prints is then byte for byte what
// install writes (service_kardianos_test.go checks that against the real
// library).
func buildPlan(in planInput) (installPlan, error) {
	p := installPlan{name: serviceName(in.goos, in.label), runAs: in.runAs}
	args := labelArgs(in.goos, in.label, in.args)
	for _, a := range append([]string{in.exe}, args...) {
		if token.Looks(a) {
			return p, errors.New("refusing to write a token into the service definition: the service reads the cached token file")
		}
	}
	cfg := &service.Config{
		Name:        p.name,
		DisplayName: "Argus agent",
		Description: "Runs recorded commands for an Argus server.",
		Executable:  in.exe,
		Arguments:   args,
		Option:      service.KeyValue{"UserService": in.user},
	}
	if in.label != "" {
		cfg.DisplayName += " (" + in.label + ")"
	}
	var err error
	switch in.goos {
	case "linux":
		p.kind = "systemd system unit"
		p.path = "/etc/systemd/system/" + systemd.UnitName(in.label)
		if in.user {
			p.kind = "systemd user unit"
			p.path = path.Join(in.userHome, ".config", "systemd", "user", systemd.UnitName(in.label))
		}
		p.content, err = systemd.Render(systemd.UnitParams{Exec: in.exe, Args: in.args, Label: in.label, User: in.user, RunAs: in.runAs})
		cfg.Option["SystemdScript"] = p.content
	case "darwin":
		p.kind = "launchd daemon"
		p.path = "/Library/LaunchDaemons/" + p.name + ".plist"
		if in.user {
			p.kind = "launchd agent"
			p.path = path.Join(in.userHome, "Library", "LaunchAgents", p.name+".plist")
		}
		p.content, err = systemd.RenderPlist(systemd.PlistParams{
			Name: p.name, Exec: in.exe, Args: args, RunAs: in.runAs,
			LogPath: systemd.LaunchdLogPath(in.userHome, in.user, p.name),
		})
		cfg.Option["LaunchdConfig"] = p.content
	case "windows":
		if in.user {
			return p, errors.New("--user: Windows services are system-wide; run service install without --user from an elevated prompt")
		}
		p.kind = "Windows service"
		cfg.UserName = in.runAs
		// Restart 5s after a failure. The SCM cannot spare one exit code the
		// way systemd's RestartPreventExitStatus does; a rejected token is
		// handled in the process instead (scm_windows.go).
		cfg.Option["StartType"] = "automatic"
		cfg.Option["OnFailure"] = "restart"
		cfg.Option["OnFailureDelayDuration"] = "5s"
		cfg.Option["OnFailureResetPeriod"] = 60
		if in.password != "" {
			cfg.Option["Password"] = in.password
		}
		p.content = windowsEntry(p, cfg)
	default:
		return p, fmt.Errorf("service: %s is not supported (systemd on Linux, launchd on macOS, the Windows service manager)", in.goos)
	}
	if err != nil {
		return p, err
	}
	if strings.Contains(p.content, "{{") {
		return p, errors.New("service: an argument holds \"{{\", which the service library would read as a template")
	}
	p.config = cfg
	return p, nil
}

// windowsEntry describes the SCM entry install creates: on Windows there
// is no file to print. It quotes the command line the way the SCM sees it.
func windowsEntry(p installPlan, cfg *service.Config) string {
	account := p.runAs
	if account == "" {
		account = "LocalSystem"
	}
	words := []string{winQuote(cfg.Executable)}
	for _, a := range cfg.Arguments {
		words = append(words, winQuote(a))
	}
	return fmt.Sprintf("Windows service %s\n  display name: %s\n  command:      %s\n  start type:   automatic\n  account:      %s\n  on failure:   restart after 5s\n",
		p.name, cfg.DisplayName, strings.Join(words, " "), account)
}

// winQuote quotes s as one word of a Windows command line, with the rules
// of syscall.EscapeArg (which exists only on Windows): backslashes are
// literal except before a quote, where they are doubled.
func winQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"") {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	slashes := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			slashes++
		case '"':
			b.WriteString(strings.Repeat(`\`, slashes+1))
			slashes = 0
		default:
			slashes = 0
		}
		b.WriteByte(s[i])
	}
	b.WriteString(strings.Repeat(`\`, slashes)) // before the closing quote
	b.WriteByte('"')
	return b.String()
}
