package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// systemdAnalyze finds systemd-analyze: a skip on a developer's machine
// without it, a failure in CI (CI=true), where .ci/run installs it.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze is missing; CI must install the systemd package")
		}
		t.Skip("systemd-analyze not found: install the systemd package to verify the rendered units")
	}
	return path
}

// verify runs systemd-analyze verify on a unit file named name (it reads
// the instance from the name). Any output counts as a failure: systemd
// only warns, exit status 0, about a setting it ignores.
func verify(t *testing.T, analyze string, user bool, name, text string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"verify", "--man=no", path}
	if user {
		args = append([]string{"--user"}, args...)
	}
	cmd := exec.Command(analyze, args...)
	// A user manager needs a runtime directory, which a CI container lacks.
	runtime := filepath.Join(dir, "run")
	if err := os.Mkdir(runtime, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+runtime, "SYSTEMD_LOG_COLOR=0")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// Every unit the binary can render passes systemd-analyze verify: system,
// user, and instances of the template.
func TestSystemdAnalyzeVerify(t *testing.T) {
	analyze := systemdAnalyze(t)
	exe, err := os.Executable() // ExecStart must name an executable that exists
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--home", "/home/alice/.argus-agent", "--url", "https://argus.example/a b%$", "--grace-period", "30s", "--log-format", "json"}
	for _, tc := range []struct {
		name string
		p    UnitParams
	}{
		{"system", UnitParams{Exec: exe, Args: args, RunAs: "root"}},
		{"system as root", UnitParams{Exec: exe, Args: args}},
		{"user", UnitParams{Exec: exe, Args: args, User: true}},
		{"template instance", UnitParams{Exec: exe, Args: args, Label: "gpu1", RunAs: "root"}},
		{"template instance with dash", UnitParams{Exec: exe, Args: args, Label: "gpu-1.b_2"}},
		{"user template instance", UnitParams{Exec: exe, Args: args, Label: "gpu1", User: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text, err := Render(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			out, err := verify(t, analyze, tc.p.User, UnitName(tc.p.Label), text)
			if err != nil || out != "" {
				t.Errorf("systemd-analyze verify %s: %v\n%s\n--- unit:\n%s", UnitName(tc.p.Label), err, out, text)
			}
		})
	}
}

// The check above can fail: systemd-analyze reports a unit it would not
// run as written, here with an exit status and with a mere warning.
func TestSystemdAnalyzeVerifyCatchesErrors(t *testing.T) {
	analyze := systemdAnalyze(t)
	text, err := Render(UnitParams{Exec: "/bin/sh"})
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"missing binary": strings.Replace(text, "ExecStart=/bin/sh", "ExecStart=/nonexistent/argus-agent", 1),
		"bad kill mode":  strings.Replace(text, "KillMode=process", "KillMode=procsess", 1),
	} {
		if bad == text {
			t.Fatalf("%s: the replacement did not apply", name)
		}
		if out, err := verify(t, analyze, false, "argus-agent.service", bad); err == nil && out == "" {
			t.Errorf("%s: systemd-analyze verify reported nothing", name)
		}
	}
}

// Install enables the unit under the file name kardianos/service writes:
// argus-agent.service, or argus-agent@LABEL.service for a label (an
// instance file rendered from the template). systemctl --root enables it
// offline, into multi-user.target.wants or, for a user unit (tested with
// --global, the same [Install] rules), default.target.wants.
func TestSystemctlEnable(t *testing.T) {
	systemdAnalyze(t) // the same package ships systemctl
	systemctl, err := exec.LookPath("systemctl")
	if err != nil {
		t.Fatalf("systemd-analyze without systemctl: %v", err)
	}
	for _, tc := range []struct {
		p     UnitParams
		wants string
	}{
		{UnitParams{Exec: "/bin/sh"}, "etc/systemd/system/multi-user.target.wants"},
		{UnitParams{Exec: "/bin/sh", Label: "gpu1"}, "etc/systemd/system/multi-user.target.wants"},
		{UnitParams{Exec: "/bin/sh", User: true}, "etc/systemd/user/default.target.wants"},
		{UnitParams{Exec: "/bin/sh", Label: "gpu1", User: true}, "etc/systemd/user/default.target.wants"},
	} {
		text, err := Render(tc.p)
		if err != nil {
			t.Fatal(err)
		}
		root := t.TempDir()
		dir, args := "etc/systemd/system", []string{"--root=" + root, "enable", UnitName(tc.p.Label)}
		if tc.p.User {
			dir, args = "etc/systemd/user", append([]string{"--global"}, args...)
		}
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, dir, UnitName(tc.p.Label)), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(systemctl, args...).CombinedOutput(); err != nil {
			t.Errorf("systemctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if _, err := os.Lstat(filepath.Join(root, tc.wants, UnitName(tc.p.Label))); err != nil {
			t.Errorf("%s not enabled in %s: %v", UnitName(tc.p.Label), tc.wants, err)
		}
	}
}
