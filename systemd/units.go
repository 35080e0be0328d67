// Package systemd holds the service definitions argus-agent installs, as Go
// text/template files embedded into the binary, and renders them. They are
// the one source of truth: "argus-agent service install" writes exactly
// what Render or RenderPlist returns, and "service install --dry-run"
// prints it.
//
//   - argus-agent.service: the systemd unit of the default agent.
//   - argus-agent@.service: the systemd template, one instance per --label.
//   - argus-agent.plist: the launchd job (macOS; it lives here too because
//     the repository keeps every service definition in this directory).
//
// They exist instead of github.com/kardianos/service's built-in ones, whose
// systemd unit kills every process in the unit's control group on stop or
// restart (taking the agent's runs with it) and waits two minutes before a
// restart, and whose plist restarts a job that exited cleanly and does not
// abandon its process group.
//
// No template has a place for a token or an environment variable: the
// service runs "argus-agent --home DIR …" and the agent reads its cached
// 0600 token file.
package systemd

import (
	"embed"
	"encoding/xml"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/template"
)

// ExitTokenRejected is the exit status of an argus-agent whose token the
// server rejects (revoked or unknown), or whose home or token file other
// users could change, and the one the systemd units name in
// RestartPreventExitStatus: restarting cannot help until someone runs
// --reregister or fixes the permissions (78 is EX_CONFIG in sysexits.h). It lives here, with the unit files that give the number
// its meaning; the agent's CLI exits with it (package agent only reports
// agent.ErrTokenRejected and never picks an exit status).
const ExitTokenRejected = 78

//go:embed argus-agent.service argus-agent@.service argus-agent.plist
var files embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{"xml": xmlText}).
	ParseFS(files, "argus-agent.service", "argus-agent@.service", "argus-agent.plist"))

// UnitParams says what a systemd unit runs.
type UnitParams struct {
	// Exec is the absolute path of the argus-agent binary.
	Exec string
	// Args follow Exec on the command line. They never hold --label for a
	// labelled unit: the template adds "--label %i" itself.
	Args []string
	// Label, when set, selects the template argus-agent@.service, installed
	// as the instance argus-agent@<Label>.service (see UnitName).
	Label string
	// User renders a unit for a user manager (systemctl --user).
	User bool
	// RunAs is the User= of a system unit; empty runs it as root. A user
	// unit always runs as its user, so RunAs must be empty there.
	RunAs string
}

// UnitName is the name of the unit for label: argus-agent.service, or the
// template's instance argus-agent@<label>.service.
func UnitName(label string) string {
	if label == "" {
		return "argus-agent.service"
	}
	return "argus-agent@" + label + ".service"
}

// userName is what may follow User=: a login name or a numeric id.
var userName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$`)

// Render returns the unit file for p, ready to install.
func Render(p UnitParams) (string, error) {
	if !strings.HasPrefix(p.Exec, "/") {
		return "", fmt.Errorf("unit: the agent's path %q is not absolute", p.Exec)
	}
	if p.User && p.RunAs != "" {
		return "", errors.New("unit: a user unit runs as its user; User= is for system units")
	}
	if p.RunAs != "" && !userName.MatchString(p.RunAs) {
		return "", fmt.Errorf("unit: %q is not a user name", p.RunAs)
	}
	if p.Label != "" && strings.ContainsAny(p.Label, "/\\%@ \t\n") {
		return "", fmt.Errorf("unit: label %q cannot name a unit instance", p.Label)
	}
	exec, err := execWord(p.Exec)
	if err != nil {
		return "", err
	}
	args := make([]string, len(p.Args))
	for i, a := range p.Args {
		if p.Label != "" && (a == "--label" || strings.HasPrefix(a, "--label=")) {
			return "", errors.New("unit: the template sets --label from the instance name; leave it out of Args")
		}
		if args[i], err = execWord(a); err != nil {
			return "", err
		}
	}
	name := "argus-agent.service"
	if p.Label != "" {
		name = "argus-agent@.service"
	}
	var b strings.Builder
	err = templates.ExecuteTemplate(&b, name, map[string]any{
		"Exec": exec, "Args": args, "User": p.User, "RunAs": p.RunAs,
		"TokenRejected": ExitTokenRejected,
	})
	return b.String(), err
}

// execWord quotes s as one word of an ExecStart= line (systemd.service(5),
// "Command lines"). Specifiers (%) and variables ($) are expanded even
// inside quotes, so they are doubled; a word with anything but plain
// characters is double-quoted with C-style escapes, which also keeps a
// lone ";" from separating commands. Control characters are refused: no
// argument of ours has one, and a newline would end the line.
func execWord(s string) (string, error) {
	if s == "" {
		return `""`, nil
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("unit: argument %q holds a control character", s)
		}
	}
	s = strings.NewReplacer("%", "%%", "$", "$$").Replace(s)
	if plainWord.MatchString(s) {
		return s, nil
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`, nil
}

// plainWord needs no quoting on an ExecStart= line (after % and $ doubling).
var plainWord = regexp.MustCompile(`^[A-Za-z0-9_./:=,+@%$-]+$`)

// PlistParams says what a launchd job runs.
type PlistParams struct {
	Name    string   // the job's Label, also the plist's file name
	Exec    string   // absolute path of the argus-agent binary
	Args    []string // follow Exec in ProgramArguments
	LogPath string   // absolute; stdout and stderr go there (see LaunchdLogPath)
	RunAs   string   // UserName of a LaunchDaemon; empty for a LaunchAgent or root
}

// RenderPlist returns the launchd property list for p, ready to install.
func RenderPlist(p PlistParams) (string, error) {
	if p.Name == "" {
		return "", errors.New("plist: the job needs a name")
	}
	if !strings.HasPrefix(p.Exec, "/") {
		return "", fmt.Errorf("plist: the agent's path %q is not absolute", p.Exec)
	}
	if !strings.HasPrefix(p.LogPath, "/") {
		return "", fmt.Errorf("plist: the log path %q is not absolute", p.LogPath)
	}
	var b strings.Builder
	err := templates.ExecuteTemplate(&b, "argus-agent.plist", p)
	return b.String(), err
}

// LaunchdLogPath is where a launchd job's output goes: ~/Library/Logs for a
// LaunchAgent (userHome is that user's home), /Library/Logs for a
// LaunchDaemon, in a file named after the job. That is where Console.app
// looks, and a LaunchAgent can write there without root.
func LaunchdLogPath(userHome string, user bool, name string) string {
	if user {
		return userHome + "/Library/Logs/" + name + ".log"
	}
	return "/Library/Logs/" + name + ".log"
}

// xmlText escapes s for XML character data (encoding/xml's rules:
// quotes and line breaks become references, characters XML cannot carry
// become U+FFFD).
func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder never fails
	return b.String()
}
