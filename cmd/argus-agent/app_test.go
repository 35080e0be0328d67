package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/argus-exec/argus/agent"
	"github.com/argus-exec/argus/internal/tempdir"
	"github.com/argus-exec/argus/systemd"
	"github.com/argus-exec/argus/token"
)

// fake stands in for package agent and records how it was called.
type fake struct {
	registers, runs int
	cfg             agent.Config
	replace         bool
	err             error                               // returned by either call
	do              func(context.Context, agent.Config) // runs inside either call
}

func (f *fake) actions() actions {
	return actions{
		register: func(ctx context.Context, cfg agent.Config, replace bool) (token.Cache, error) {
			f.registers++
			f.cfg, f.replace = cfg, replace
			if f.do != nil {
				f.do(ctx, cfg)
			}
			if f.err != nil {
				return token.Cache{}, f.err
			}
			return token.Cache{AgentID: "ag_test1"}, nil
		},
		run: func(ctx context.Context, cfg agent.Config) error {
			f.runs++
			f.cfg = cfg
			if f.do != nil {
				f.do(ctx, cfg)
			}
			return f.err
		},
	}
}

type result struct {
	code           int
	stdout, stderr string
}

func execute(f *fake, args ...string) result {
	var out, errb bytes.Buffer
	code := run(append([]string{"argus-agent"}, args...), &out, &errb, f.actions())
	return result{code, out.String(), errb.String()}
}

// cleanEnv unsets every variable the CLI reads and points the home
// directory at a temp dir, which it returns.
func cleanEnv(t *testing.T) string {
	t.Helper()
	for _, fl := range agentFlags() {
		for _, k := range fl.(cli.DocGenerationFlag).GetEnvVars() {
			t.Setenv(k, "") // restores the old value after the test
			os.Unsetenv(k)
		}
	}
	home := tempdir.New(t)
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home)
	return home
}

func userToken(t *testing.T) string {
	t.Helper()
	tok, err := token.New(token.User)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// sameConfig compares everything but the logger.
func sameConfig(t *testing.T, got, want agent.Config) {
	t.Helper()
	got.Logger, want.Logger = zerolog.Logger{}, zerolog.Logger{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config:\n got  %+v\n want %+v", got, want)
	}
}

func defaults(home string) agent.Config {
	return agent.Config{
		Home:              filepath.Join(home, ".argus-agent"),
		GracePeriod:       10 * time.Second,
		HeartbeatInterval: 10 * time.Second,
		PollWait:          30 * time.Second, MaxBackoff: 30 * time.Second,
		ReportResources: true,
		Version:         version,
	}
}

func TestRunWithDefaults(t *testing.T) {
	home := cleanEnv(t)
	t.Setenv("ARGUS_TOKEN", userToken(t)) // only registering reads it
	f := &fake{}
	r := execute(f)
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("got %+v, want exit 0 and no output", r)
	}
	if f.runs != 1 || f.registers != 0 {
		t.Fatalf("runs=%d registers=%d, want 1 run", f.runs, f.registers)
	}
	sameConfig(t, f.cfg, defaults(home))
}

func TestRegisterFlagsMapToConfig(t *testing.T) {
	cleanEnv(t)
	tok := userToken(t)
	dir := tempdir.New(t)
	f := &fake{}
	r := execute(f, "--register", "--url", "https://argus.example:8420", "--token", tok,
		"--label", "gpu-1", "--home", filepath.Join(dir, "h"), "--grace-period", "3s",
		"--ca-cert", filepath.Join(dir, "ca.pem"), "--insecure-skip-verify",
		"--log-level", "debug", "--log-format", "json",
		"--property", "rack=r12", "--property", "gpu=a100=x", "--property", "empty=",
		"--heartbeat-interval", "2s", "--poll-wait", "45s", "--report-resources=false")
	if r.code != 0 || r.stdout != "ag_test1\n" {
		t.Fatalf("got %+v, want exit 0 and the agent id on stdout", r)
	}
	if f.registers != 1 || f.runs != 0 || f.replace {
		t.Fatalf("registers=%d runs=%d replace=%v, want one register without replace", f.registers, f.runs, f.replace)
	}
	sameConfig(t, f.cfg, agent.Config{
		URL: "https://argus.example:8420", UserToken: tok, Label: "gpu-1",
		Home: filepath.Join(dir, "h"), GracePeriod: 3 * time.Second,
		CACertFile: filepath.Join(dir, "ca.pem"), InsecureSkipVerify: true,
		Properties:        map[string]string{"rack": "r12", "gpu": "a100=x", "empty": ""},
		HeartbeatInterval: 2 * time.Second, PollWait: 45 * time.Second, MaxBackoff: 30 * time.Second, Version: version,
	})
	if f.cfg.Logger.GetLevel() != zerolog.DebugLevel {
		t.Errorf("log level %v, want debug", f.cfg.Logger.GetLevel())
	}
	if !strings.Contains(r.stderr, "insecure-skip-verify") {
		t.Errorf("no warning about skipped TLS verification in %q", r.stderr)
	}
}

func TestReregisterReplaces(t *testing.T) {
	cleanEnv(t)
	t.Setenv("ARGUS_URL", "http://127.0.0.1:8420")
	t.Setenv("ARGUS_TOKEN", userToken(t))
	f := &fake{}
	r := execute(f, "--reregister")
	if r.code != 0 || r.stdout != "ag_test1\n" || f.registers != 1 || !f.replace {
		t.Fatalf("got %+v registers=%d replace=%v, want one register with replace", r, f.registers, f.replace)
	}
}

func TestEnvironment(t *testing.T) {
	home := cleanEnv(t)
	tok := userToken(t)
	for k, v := range map[string]string{
		"ARGUS_URL": "https://env.example", "ARGUS_TOKEN": tok, "ARGUS_AGENT_LABEL": "env-label",
		"ARGUS_AGENT_HOME": "~/agent-home", "ARGUS_GRACE_PERIOD": "7s", "ARGUS_CA_CERT": "/etc/ca.pem",
		"ARGUS_INSECURE_SKIP_VERIFY": "true", "ARGUS_LOG_LEVEL": "warn", "ARGUS_LOG_FORMAT": "console",
		"ARGUS_PROPERTIES": "a=1, b=2,", "ARGUS_HEARTBEAT_INTERVAL": "4s", "ARGUS_POLL_WAIT": "5s",
		"ARGUS_REPORT_RESOURCES": "false",
	} {
		t.Setenv(k, v)
	}
	f := &fake{}
	if r := execute(f, "--register"); r.code != 0 {
		t.Fatalf("got %+v", r)
	}
	sameConfig(t, f.cfg, agent.Config{
		URL: "https://env.example", UserToken: tok, Label: "env-label",
		Home: filepath.Join(home, "agent-home"), GracePeriod: 7 * time.Second,
		CACertFile: absPath(t, "/etc/ca.pem"), InsecureSkipVerify: true,
		Properties:        map[string]string{"a": "1", "b": "2"},
		HeartbeatInterval: 4 * time.Second, PollWait: 5 * time.Second, MaxBackoff: 30 * time.Second, Version: version,
	})
	if f.cfg.Logger.GetLevel() != zerolog.WarnLevel {
		t.Errorf("log level %v, want warn", f.cfg.Logger.GetLevel())
	}

	// A flag beats the environment.
	f = &fake{}
	if r := execute(f, "--label", "flag-label", "--grace-period", "1s", "--property", "c=3"); r.code != 0 {
		t.Fatalf("got %+v", r)
	}
	if f.cfg.Label != "flag-label" || f.cfg.GracePeriod != time.Second || !reflect.DeepEqual(f.cfg.Properties, map[string]string{"c": "3"}) {
		t.Errorf("flags did not beat the environment: %+v", f.cfg)
	}
	if f.cfg.UserToken != "" {
		t.Error("the user token reached agent.Run")
	}
}

// checkOneLine asserts a failed exit with exactly one error line holding want.
func checkOneLine(t *testing.T, r result, code int, want string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "argus-agent: ") || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr %q is not one line starting with argus-agent:", r.stderr)
	}
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q does not say %q", r.stderr, want)
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
}

func TestBadInput(t *testing.T) {
	tok := "em_live_notreallyatoken"
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"register and reregister", nil, []string{"--register", "--reregister"}, "cannot be used together"},
		{"bad label", nil, []string{"--label", "../etc"}, `invalid label "../etc"`},
		{"bad label from env", map[string]string{"ARGUS_AGENT_LABEL": "-x"}, nil, `invalid label "-x"`},
		{"property without =", nil, []string{"--property", "novalue"}, `--property "novalue": use key=value`},
		{"property key", nil, []string{"--property", "1x=v"}, `--property key "1x"`},
		{"property key with dash", map[string]string{"ARGUS_PROPERTIES": "ok=1,bad-key=2"}, nil, `--property key "bad-key"`},
		{"property twice", nil, []string{"--property", "a=1", "--property", "a=2"}, `"a" given twice`},
		{"property case clash", nil, []string{"--property", "gpu=1", "--property", "GPU=2"}, "both become ARGUS_PROP_GPU"},
		{"bad duration", nil, []string{"--grace-period", "soon"}, `invalid value "soon" for flag -grace-period`},
		{"bad duration from env", map[string]string{"ARGUS_POLL_WAIT": "1 minute"}, nil, "ARGUS_POLL_WAIT"},
		{"zero duration", nil, []string{"--heartbeat-interval", "0s"}, "--heartbeat-interval 0s: must be more than 0"},
		{"negative duration", nil, []string{"--grace-period", "-1s"}, "--grace-period -1s: must be more than 0"},
		{"bad bool from env", map[string]string{"ARGUS_INSECURE_SKIP_VERIFY": "maybe"}, nil, "ARGUS_INSECURE_SKIP_VERIFY"},
		{"log level", nil, []string{"--log-level", "loud"}, `--log-level "loud"`},
		{"log format", nil, []string{"--log-format", "xml"}, `--log-format "xml"`},
		{"url scheme", nil, []string{"--url", "ftp://x"}, `--url "ftp://x"`},
		{"url without host", nil, []string{"--url", "https://"}, "use http://host:port"},
		{"positional", nil, []string{"run"}, `unexpected argument "run"`},
		{"flag after positional", nil, []string{"serve", "--label", "x"}, "none after an argument are read"},
		{"unknown flag", nil, []string{"--labels", "x"}, "flag provided but not defined: -labels"},
		{"register without url", map[string]string{"ARGUS_TOKEN": tok}, []string{"--register"}, "set ARGUS_URL"},
		{"register without token", map[string]string{"ARGUS_URL": "http://h"}, []string{"--reregister"}, "set ARGUS_TOKEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cleanEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			f := &fake{}
			checkOneLine(t, execute(f, tc.args...), 1, tc.want)
			if f.runs+f.registers != 0 {
				t.Errorf("agent called (runs=%d registers=%d) despite bad input", f.runs, f.registers)
			}
		})
	}
}

func TestTokenRejected(t *testing.T) {
	const line = "argus-agent: token rejected: run argus-agent --reregister\n"
	for _, args := range [][]string{nil, {"--reregister"}} {
		t.Run(fmt.Sprint(args), func(t *testing.T) {
			cleanEnv(t)
			t.Setenv("ARGUS_URL", "http://h")
			t.Setenv("ARGUS_TOKEN", userToken(t))
			f := &fake{err: fmt.Errorf("heartbeat: %w", agent.ErrTokenRejected)}
			r := execute(f, args...)
			if r.code != 78 || systemd.ExitTokenRejected != 78 {
				t.Errorf("exit %d, want 78", r.code)
			}
			if r.stderr != line || r.stdout != "" {
				t.Errorf("stderr %q stdout %q, want exactly %q", r.stderr, r.stdout, line)
			}
		})
	}
}

// A home or token file others could change exits 78 too: restarting
// cannot fix a file mode or owner.
func TestUnsafeHomeExitsNoRestart(t *testing.T) {
	const line = "argus-agent: /h is writable by other users (mode 0777): run chmod 700 /h\n"
	for _, args := range [][]string{nil, {"--register"}, {"--reregister"}} {
		t.Run(fmt.Sprint(args), func(t *testing.T) {
			cleanEnv(t)
			t.Setenv("ARGUS_URL", "http://h")
			t.Setenv("ARGUS_TOKEN", userToken(t))
			r := execute(&fake{err: token.Unsafef("/h is writable by other users (mode 0777): run chmod 700 /h")}, args...)
			if r.code != 78 || r.stderr != line || r.stdout != "" {
				t.Errorf("exit %d stderr %q stdout %q, want 78 and exactly %q", r.code, r.stderr, r.stdout, line)
			}
		})
	}
}

func TestAgentErrorsAreOneLine(t *testing.T) {
	cleanEnv(t)
	checkOneLine(t, execute(&fake{err: errors.New("journal:\n  corrupt entry")}), 1, "argus-agent: journal: corrupt entry\n")

	// Text that only names a token kind is not masked.
	checkOneLine(t, execute(&fake{err: errors.New("set ARGUS_TOKEN to your em_live_… token")}), 1, "your em_live_… token\n")

	// context.Canceled with no signal received is an error, not a clean stop.
	checkOneLine(t, execute(&fake{err: context.Canceled}), 1, "context canceled")

	t.Setenv("ARGUS_URL", "http://h")
	t.Setenv("ARGUS_TOKEN", userToken(t))
	checkOneLine(t, execute(&fake{err: errors.New("already registered as agent ag_1: use --reregister")}, "--register"),
		1, "already registered as agent ag_1")
}

func TestHelpDocumentsExitCodes(t *testing.T) {
	cleanEnv(t)
	r := execute(&fake{}, "--help")
	for _, want := range []string{"Exit codes:", "0    clean stop", "1    error", fmt.Sprintf("%d   the server rejected", systemd.ExitTokenRejected), "--reregister", "ARGUS_PROPERTIES"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestVersion(t *testing.T) {
	cleanEnv(t)
	old := version
	version = "v1.2.3"
	defer func() { version = old }()
	f := &fake{}
	if r := execute(f, "--version"); r.code != 0 || !strings.Contains(r.stdout, "v1.2.3") || f.runs != 0 {
		t.Errorf("--version: %+v", r)
	}
	if r := execute(f); r.code != 0 || f.cfg.Version != "v1.2.3" {
		t.Errorf("Config.Version %q, want v1.2.3", f.cfg.Version)
	}
}

// absPath is p made absolute as the agent makes the paths it is given: a
// Unix path unchanged, on Windows on the current drive.
func absPath(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}
