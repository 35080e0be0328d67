//go:build linux

// The service subcommands render for the system they run on; these tests
// expect systemd's names and units. The plans for macOS and Windows are
// tested on any system in service_plan_test.go.

package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kardianos/service"

	"github.com/argus-exec/argus/systemd"
	"github.com/argus-exec/argus/token"
)

// fakeControl stands in for kardianos/service and records what it is asked.
type fakeControl struct {
	configs []*service.Config // one per serviceControl made
	calls   []string
	status  service.Status
	err     map[string]error // returned by the named call
}

func (f *fakeControl) call(name string) error {
	f.calls = append(f.calls, name)
	return f.err[name]
}
func (f *fakeControl) Install() error   { return f.call("install") }
func (f *fakeControl) Uninstall() error { return f.call("uninstall") }
func (f *fakeControl) Start() error     { return f.call("start") }
func (f *fakeControl) Stop() error      { return f.call("stop") }
func (f *fakeControl) Restart() error   { return f.call("restart") }
func (f *fakeControl) Status() (service.Status, error) {
	return f.status, f.call("status")
}

func executeService(fc *fakeControl, args ...string) result {
	acts := (&fake{}).actions()
	acts.service = func(cfg *service.Config) (serviceControl, error) {
		fc.configs = append(fc.configs, cfg)
		return fc, nil
	}
	var out, errb bytes.Buffer
	code := run(append([]string{"argus-agent", "service"}, args...), &out, &errb, acts)
	return result{code, out.String(), errb.String()}
}

// register caches an agent token as --register would, and returns it.
func register(t *testing.T, home, label string) string {
	t.Helper()
	tok, err := token.New(token.Agent)
	if err != nil {
		t.Fatal(err)
	}
	err = token.SaveCache(token.CachePath(home, label), token.Cache{URL: "http://127.0.0.1:8420", AgentID: "ag_1", Token: tok, Label: label, RegisteredAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// files lists every file under dir.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestServiceDryRunPrintsTheUnitAndWritesNothing(t *testing.T) {
	home := cleanEnv(t)
	agentHome := filepath.Join(home, ".argus-agent")
	tok := register(t, agentHome, "")
	t.Setenv("ARGUS_TOKEN", userToken(t)) // a service never sees it
	before := files(t, home)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	runAs := "" // root: no User=
	if os.Geteuid() != 0 {
		me, err := user.Current()
		if err != nil {
			t.Fatal(err)
		}
		runAs = me.Username // the owner of the token file
	}
	want, err := systemd.Render(systemd.UnitParams{Exec: exe, RunAs: runAs, Args: []string{"--home", agentHome, "--grace-period", "20s", "--log-format", "json"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"install", "--dry-run", "--grace-period", "20s"}, {"print", "--grace-period=20s"}} {
		fc := &fakeControl{}
		r := executeService(fc, args...)
		if r.code != 0 || r.stdout != want {
			t.Errorf("%v: exit %d, stderr %q, stdout:\n%s\nwant:\n%s", args, r.code, r.stderr, r.stdout, want)
		}
		if !strings.Contains(r.stderr, "/etc/systemd/system/argus-agent.service; nothing was written") {
			t.Errorf("%v: stderr %q does not say where install would write", args, r.stderr)
		}
		if out := r.stdout + r.stderr; strings.Contains(out, "_live_") || strings.Contains(out, tok[len(token.Agent):]) {
			t.Errorf("%v: a token in the output", args)
		}
		if len(fc.configs) != 0 || len(fc.calls) != 0 {
			t.Errorf("%v: the service manager was used: %v", args, fc.calls)
		}
	}
	// A log file for the service is the service's to create.
	r := executeService(&fakeControl{}, "install", "--dry-run", "--log-file", "~/agent.log")
	if r.code != 0 || !strings.Contains(r.stdout, " --log-file "+filepath.Join(home, "agent.log")+"\n") {
		t.Errorf("--log-file: %+v", r)
	}
	if after := files(t, home); !reflect.DeepEqual(before, after) {
		t.Errorf("files changed:\n before %v\n after  %v", before, after)
	}
}

func TestServiceInstallNeedsRegistration(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"install"}, "run argus-agent --register first"},
		{[]string{"install", "--dry-run", "--label", "gpu1"}, "run argus-agent --register --label gpu1 first"},
		{[]string{"print", "--user", "--home", "/nonexistent/h"}, "run argus-agent --register --home /nonexistent/h first"},
	} {
		cleanEnv(t)
		fc := &fakeControl{}
		checkOneLine(t, executeService(fc, tc.args...), 1, tc.want)
		if len(fc.calls) != 0 {
			t.Errorf("%v: service manager called: %v", tc.args, fc.calls)
		}
	}
}

func TestServiceInstall(t *testing.T) {
	home := cleanEnv(t)
	register(t, filepath.Join(home, ".argus-agent"), "gpu1")
	dry := executeService(&fakeControl{}, "install", "--label", "gpu1", "--user", "--dry-run")
	fc := &fakeControl{}
	r := executeService(fc, "install", "--label", "gpu1", "--user")
	if r.code != 0 || !strings.Contains(r.stdout, "installed and started argus-agent@gpu1 (systemd user unit ") || !strings.Contains(r.stdout, "loginctl enable-linger") ||
		!strings.Contains(r.stdout, "logs: journalctl --user -u argus-agent@gpu1\n") {
		t.Fatalf("got %+v", r)
	}
	if !reflect.DeepEqual(fc.calls, []string{"install", "start"}) || len(fc.configs) != 1 {
		t.Fatalf("calls %v, configs %d; want install, start", fc.calls, len(fc.configs))
	}
	cfg := fc.configs[0]
	if cfg.Name != "argus-agent@gpu1" || cfg.Option["SystemdScript"] != dry.stdout || cfg.Option["UserService"] != true {
		t.Errorf("config %+v does not match the dry run:\n%s", cfg, dry.stdout)
	}
	if len(cfg.EnvVars) != 0 || cfg.UserName != "" {
		t.Errorf("environment or account in the config: %+v", cfg)
	}

	fc = &fakeControl{}
	r = executeService(fc, "install", "--label", "gpu1", "--no-start")
	if r.code != 0 || !reflect.DeepEqual(fc.calls, []string{"install"}) || !strings.Contains(r.stdout, "service start --label gpu1") {
		t.Errorf("--no-start: %+v, calls %v", r, fc.calls)
	}

	fc = &fakeControl{err: map[string]error{"install": errors.New("Init already exists: /etc/systemd/system/argus-agent@gpu1.service")}}
	checkOneLine(t, executeService(fc, "install", "--label", "gpu1"), 1, "argus-agent@gpu1 is already installed: to change its settings run argus-agent service uninstall --label gpu1 first")

	fc = &fakeControl{err: map[string]error{"start": errors.New("exit status 1")}}
	checkOneLine(t, executeService(fc, "install", "--label", "gpu1"), 1, "installed argus-agent@gpu1 (systemd system unit /etc/systemd/system/argus-agent@gpu1.service) but could not start it")
}

// Settings from the command line and the environment are written into the
// service's arguments; those from --config stay in the file, which the
// service reads itself.
func TestServiceArguments(t *testing.T) {
	home := cleanEnv(t)
	register(t, filepath.Join(home, ".argus-agent"), "")
	conf := writeFile(t, "agent.yaml", "url: http://127.0.0.1:8420\ngrace-period: 40s\n", 0o600)
	t.Setenv("ARGUS_POLL_WAIT", "5s")
	fc := &fakeControl{}
	r := executeService(fc, "install", "--config", conf, "--property", "rack=r1", "--property", "gpu=a100",
		"--insecure-skip-verify", "--ca-cert", "~/ca.pem", "--log-format", "console", "--log-level", "warn", "--report-resources=false")
	if r.code != 0 || len(fc.configs) != 1 {
		t.Fatalf("got %+v", r)
	}
	want := []string{"--home", filepath.Join(home, ".argus-agent"), "--config", conf,
		"--ca-cert", filepath.Join(home, "ca.pem"), "--insecure-skip-verify", "--poll-wait", "5s",
		"--property", "rack=r1", "--property", "gpu=a100", "--log-level", "warn", "--report-resources=false",
		"--log-format", "console"}
	if got := fc.configs[0].Arguments; !reflect.DeepEqual(got, want) {
		t.Errorf("arguments\n got  %q\n want %q", got, want)
	}
}

func TestServiceRefusesTokens(t *testing.T) {
	home := cleanEnv(t)
	register(t, filepath.Join(home, ".argus-agent"), "")
	tok := userToken(t)
	for _, args := range [][]string{{"print", "--property", "key=" + tok}, {"print", "--token", tok}, {"install", tok}} {
		r := executeService(&fakeControl{}, args...)
		if r.code == 0 || strings.Contains(r.stdout+r.stderr, tok[len(token.User):]) {
			t.Errorf("%v: %+v", args[:2], r)
		}
	}
	// The property case passes flag parsing: it is the token check itself
	// that must refuse it.
	r := executeService(&fakeControl{}, "print", "--property", "key="+tok)
	if !strings.Contains(r.stderr, "refusing to write a token") {
		t.Errorf("a token in a property was not refused by the token check: %+v", r)
	}
	r = executeService(&fakeControl{}, "print", "--url", "https://u:secret@argus.example")
	if r.code != 1 || strings.Contains(r.stdout+r.stderr, "secret") || !strings.Contains(r.stderr, "user name and password") {
		t.Errorf("a URL with credentials: %+v", r)
	}
}

func TestServiceStatus(t *testing.T) {
	cleanEnv(t)
	for _, tc := range []struct {
		status service.Status
		err    error
		code   int
		out    string
	}{
		{service.StatusRunning, nil, 0, "argus-agent@gpu1: running\n"},
		{service.StatusStopped, nil, 3, "argus-agent@gpu1: stopped\n"},
		{service.StatusUnknown, service.ErrNotInstalled, 3, "argus-agent@gpu1: not installed\n"},
		{service.StatusUnknown, errors.New("service in failed state"), 3, "argus-agent@gpu1: failed\n"},
	} {
		fc := &fakeControl{status: tc.status, err: map[string]error{"status": tc.err}}
		r := executeService(fc, "status", "--label", "gpu1")
		if r.code != tc.code || r.stdout != tc.out || r.stderr != "" {
			t.Errorf("status %v, %v: got %+v, want exit %d and %q", tc.status, tc.err, r, tc.code, tc.out)
		}
		if len(fc.configs) != 1 || fc.configs[0].Name != "argus-agent@gpu1" {
			t.Errorf("configs %+v", fc.configs)
		}
	}
	fc := &fakeControl{err: map[string]error{"status": errors.New("dbus:\nno bus")}}
	checkOneLine(t, executeService(fc, "status"), 1, "status of argus-agent: dbus: no bus")
}

func TestServiceControl(t *testing.T) {
	cleanEnv(t)
	for _, tc := range []struct {
		args   []string
		status service.Status
		calls  []string
		out    string
	}{
		{[]string{"start"}, service.StatusStopped, []string{"status", "start"}, "argus-agent: started\n"},
		{[]string{"stop", "--user"}, service.StatusRunning, []string{"status", "stop"}, "argus-agent: stopped\n"},
		{[]string{"restart", "--label", "a"}, service.StatusRunning, []string{"status", "restart"}, "argus-agent@a: restarted\n"},
		{[]string{"uninstall"}, service.StatusRunning, []string{"status", "stop", "uninstall"}, "uninstalled argus-agent; runs it started keep running"},
		{[]string{"uninstall"}, service.StatusStopped, []string{"status", "uninstall"}, "uninstalled argus-agent;"},
	} {
		fc := &fakeControl{status: tc.status}
		r := executeService(fc, tc.args...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, tc.out) || !reflect.DeepEqual(fc.calls, tc.calls) {
			t.Errorf("%v: got %+v, calls %v; want %q, calls %v", tc.args, r, fc.calls, tc.out, tc.calls)
		}
		if user := fc.configs[0].Option["UserService"]; user != (tc.args[len(tc.args)-1] == "--user") {
			t.Errorf("%v: UserService %v", tc.args, user)
		}
	}
	for _, action := range []string{"start", "stop", "restart", "uninstall"} {
		fc := &fakeControl{err: map[string]error{"status": service.ErrNotInstalled}}
		checkOneLine(t, executeService(fc, action), 1, "argus-agent is not installed as a system service (add --user for a per-user one)")
		if !reflect.DeepEqual(fc.calls, []string{"status"}) {
			t.Errorf("%s when not installed: calls %v", action, fc.calls)
		}
	}
}

func TestServiceUsageErrors(t *testing.T) {
	cleanEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "service needs a subcommand"},
		{[]string{"enable"}, `unknown service subcommand "enable"`},
		{[]string{"status", "extra"}, `unexpected argument "extra"`},
		{[]string{"status", "--label", "../x"}, `invalid label "../x"`},
		{[]string{"start", "--dry-run"}, "flag provided but not defined: -dry-run"},
		{[]string{"print", "--log-level", "loud"}, `--log-level "loud"`},
	} {
		fc := &fakeControl{}
		checkOneLine(t, executeService(fc, tc.args...), 1, tc.want)
		if len(fc.calls) != 0 {
			t.Errorf("%v: calls %v", tc.args, fc.calls)
		}
	}
	// Flags before "service" would be silently lost.
	checkOneLine(t, execute(&fake{}, "--label", "x", "service", "status"), 1, "flags go after the service subcommand")
}
