package server

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/argus-exec/argus/server/api"
)

// The checks here hold request fields to the limits in server/api/limits.go
// and to what the field can sensibly hold. Each refusal is a 400 naming the
// field; none echoes an over-long value.

// checkLine refuses a one-line text field that is too long or holds a
// character that would forge or garble what a reader sees where names,
// hosts and paths are shown (lists, logs, terminals, the web UI): a
// control character (C0, DEL, C1: escapes, newlines), a line or paragraph
// separator (U+2028, U+2029: a new line in browsers and some editors),
// or a bidirectional control (U+202A–U+202E embeddings and overrides,
// U+2066–U+2069 isolates), which reorders the text around it. The
// direction marks U+200E and U+200F are allowed: right-to-left text
// needs them, and they only set the direction of neutral characters
// next to them, never reorder a run of text.
func checkLine(field, v string, max int) error {
	if err := checkSize(field, v, max); err != nil {
		return err
	}
	if i := strings.IndexFunc(v, func(r rune) bool { return lineRefusal(r) != "" }); i >= 0 {
		r, _ := utf8.DecodeRuneInString(v[i:])
		return errorf(http.StatusBadRequest, "%s holds %s (%U at byte %d)", field, lineRefusal(r), r, i)
	}
	return nil
}

// lineRefusal says what kind of character r is if a one-line field may
// not hold it (see checkLine), or "".
func lineRefusal(r rune) string {
	switch {
	case unicode.IsControl(r):
		return "a control character"
	case r == '\u2028' || r == '\u2029':
		return "a line or paragraph separator"
	case r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069':
		return "a bidirectional control"
	}
	return ""
}

// checkReason holds a stop's reason to MaxStopReason characters (runes:
// a reason in Japanese gets as many characters as one in English) of one
// printable line, like every text field shown in lists and terminals.
func checkReason(v string) error {
	if n := utf8.RuneCountInString(v); n > api.MaxStopReason {
		return errorf(http.StatusBadRequest, "reason is longer than %d characters (%d)", api.MaxStopReason, n)
	}
	return checkLine("reason", v, len(v))
}

func checkSize(field, v string, max int) error {
	if len(v) > max {
		return errorf(http.StatusBadRequest, "%s is longer than %d bytes", field, max)
	}
	return nil
}

// checkNoNUL refuses a NUL byte, which no argv element, environment
// value or shell line can carry to a process.
func checkNoNUL(field, v string) error {
	if strings.IndexByte(v, 0) >= 0 {
		return errorf(http.StatusBadRequest, "%s must not contain NUL bytes", field)
	}
	return nil
}

// checkBatchLimits holds a batch to the field limits and shapes: text
// fields one printable line, an absolute cwd, a command and environment
// a process could really be started with.
func checkBatchLimits(req *api.CreateBatchRequest) error {
	snap := req.EnvSnapshot
	for _, f := range []struct {
		field, v string
		max      int
	}{{"name", req.Name, api.MaxBatchName}, {"env_snapshot.host", snap.Host, api.MaxHost}, {"env_snapshot.cwd", snap.Cwd, api.MaxCwd}} {
		if err := checkLine(f.field, f.v, f.max); err != nil {
			return err
		}
	}
	// A rerun goes to an agent whose hostname equals the host; blanks at
	// either end (which no hostname has) would make every rerun 409.
	if strings.TrimSpace(snap.Host) != snap.Host {
		return errorf(http.StatusBadRequest, "env_snapshot.host has blanks at its start or end")
	}
	if !absolutePath(snap.Cwd) {
		return errorf(http.StatusBadRequest, `env_snapshot.cwd must be an absolute path (/srv/exp, C:\exp or \\server\share\exp)`)
	}
	if err := checkCommand(snap.Command); err != nil {
		return err
	}
	return checkEnv("env_snapshot.env", snap.Env, api.MaxEnvVars, api.MaxEnvName, api.MaxEnvValue)
}

// windowsAbs matches a Windows drive path (C:\ or C:/) or a UNC path
// (\\server\share): agents run on Windows too, so a batch recorded there
// carries such a cwd.
var windowsAbs = regexp.MustCompile(`^([A-Za-z]:[\\/]|\\\\[^\\/])`)

// absolutePath reports whether p is absolute on POSIX or on Windows. A
// relative cwd would resolve against wherever the agent happens to run.
func absolutePath(p string) bool {
	return strings.HasPrefix(p, "/") || windowsAbs.MatchString(p)
}

func checkCommand(c api.CommandLine) error {
	if len(c.Argv) > api.MaxArgs {
		return errorf(http.StatusBadRequest, "env_snapshot.command has more than %d elements", api.MaxArgs)
	}
	for i, a := range c.Argv {
		field := fmt.Sprintf("env_snapshot.command[%d]", i)
		if err := checkSize(field, a, api.MaxArg); err != nil {
			return err
		}
		if err := checkNoNUL(field, a); err != nil {
			return err
		}
	}
	if err := checkSize("env_snapshot.command", c.Shell, api.MaxShell); err != nil {
		return err
	}
	return checkNoNUL("env_snapshot.command", c.Shell)
}

// checkEnv holds an environment-like map (a batch's env, an agent's
// properties, which become ARGUS_PROP_ variables) to its limits. Names
// must be printable and free of '=', which would split the NAME=value
// entry elsewhere; values may hold anything but NUL, since tabs and
// newlines in environment values are legitimate. Names are checked in
// order so the same body always gets the same answer.
func checkEnv(field string, env map[string]string, maxVars, maxName, maxValue int) error {
	if len(env) > maxVars {
		return errorf(http.StatusBadRequest, "%s has more than %d entries", field, maxVars)
	}
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		switch {
		case len(k) > maxName:
			return errorf(http.StatusBadRequest, "a name in %s is longer than %d bytes", field, maxName)
		case !validEnvName(k):
			return errorf(http.StatusBadRequest, "name %q in %s is empty or holds '=' or an unprintable character", k, field)
		}
		entry := fmt.Sprintf("%s[%s]", field, k)
		if err := checkSize(entry, env[k], maxValue); err != nil {
			return err
		}
		if err := checkNoNUL(entry, env[k]); err != nil {
			return err
		}
	}
	return nil
}

func validEnvName(k string) bool {
	if k == "" || !utf8.ValidString(k) {
		return false
	}
	return !strings.ContainsFunc(k, func(r rune) bool { return r == '=' || !unicode.IsPrint(r) })
}

// checkRegister holds an agent's registration to the field limits. Its
// label keeps its own rule (token.ValidLabel).
func checkRegister(req api.RegisterRequest) error {
	if req.Hostname == "" {
		return errorf(http.StatusBadRequest, "hostname is required (at most %d bytes)", api.MaxHostname)
	}
	for _, f := range []struct {
		field, v string
		max      int
	}{{"hostname", req.Hostname, api.MaxHostname}, {"agent_id", req.AgentID, api.MaxID}, {"os", req.OS, api.MaxOS},
		{"arch", req.Arch, api.MaxArch}, {"version", req.Version, api.MaxVersion}} {
		if err := checkLine(f.field, f.v, f.max); err != nil {
			return err
		}
	}
	return checkEnv("properties", req.Properties, api.MaxProperties, api.MaxPropertyName, api.MaxPropertyValue)
}

// checkAck holds an ack to its limits, cutting an over-long error rather
// than refusing it (see api.MaxAckError).
func checkAck(req *api.AckRequest) error {
	if req.PID != 0 && (req.PID < api.MinPID || req.PID > api.MaxPID) {
		return errorf(http.StatusBadRequest, "pid must be between %d and %d", api.MinPID, api.MaxPID)
	}
	switch req.Outcome {
	case "", api.StopTerminated, api.StopKilled, api.StopAlreadyGone, api.StopFailed, api.OutcomeExpired:
	default:
		return errorf(http.StatusBadRequest, "outcome must be terminated, killed, already_gone, failed or expired")
	}
	// NUL is dropped: runs.error is text, which PostgreSQL refuses with a
	// NUL in it, and an ack the store refuses would be retried for ever,
	// holding back its run's exit report too.
	req.Error = cut(strings.ReplaceAll(req.Error, "\x00", ""), api.MaxAckError)
	return nil
}

// checkExit holds an exit report to its limits. Its output_tail is cut to
// the last api.MaxOutputTail bytes where it is stored, never refused.
func checkExit(req api.ExitReport) error {
	if c := req.ExitCode; c != nil && (int64(*c) < api.MinExitCode || int64(*c) > api.MaxExitCode) {
		return errorf(http.StatusBadRequest, "exit_code must be between %d and %d", api.MinExitCode, api.MaxExitCode)
	}
	// Only reasons the server knows: the reason is stored and shown, so an
	// unknown one is refused like an unknown stop outcome.
	if req.StopReason != "" && req.StopReason != api.StopReasonTimeout {
		return errorf(http.StatusBadRequest, "stop_reason must be %q or absent", api.StopReasonTimeout)
	}
	return checkLine("signal", req.Signal, api.MaxSignal)
}

// cut keeps the first max bytes of s, ending at a rune boundary, and marks
// the cut.
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const mark = "…"
	end := max - len(mark)
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + mark
}
