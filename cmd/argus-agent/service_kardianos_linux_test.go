package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kardianos/service"
)

// What --dry-run prints is byte for byte what kardianos/service writes:
// its systemd backend, given our rendered unit as SystemdScript, runs it
// through its own template engine and writes the result. The backend is
// taken from the library's list, so this runs without systemd too; a user
// unit under a temporary HOME keeps the write inside the test, and an
// empty PATH keeps the library from reaching a real systemctl.
func TestKardianosWritesOurUnitUnchanged(t *testing.T) {
	var systemdBackend service.System
	for _, s := range service.AvailableSystems() {
		if s.String() == "linux-systemd" {
			systemdBackend = s
		}
	}
	if systemdBackend == nil {
		t.Fatal("kardianos/service has no linux-systemd backend")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("PATH", t.TempDir())
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, label := range []string{"", "gpu1"} {
		plan, err := buildPlan(planInput{
			goos: "linux", user: true, label: label, exe: exe, userHome: home,
			// Characters the library's engine or the unit syntax might touch.
			args: []string{"--home", filepath.Join(home, "a b"), "--url", "http://h/%i$x}}", "--property", `q="1"\`},
		})
		if err != nil {
			t.Fatal(err)
		}
		s, err := systemdBackend.New(controlOnly{}, plan.config)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Install(); err == nil {
			t.Error("Install reached a systemctl; the test must not touch the host's service manager")
		}
		got, err := os.ReadFile(plan.path)
		if err != nil {
			t.Fatalf("the library did not write %s: %v", plan.path, err)
		}
		if string(got) != plan.content {
			t.Errorf("the library wrote\n%s\nwant (the dry run)\n%s", got, plan.content)
		}
		if plan.path != filepath.Join(home, ".config/systemd/user", "argus-agent"+map[string]string{"": "", "gpu1": "@gpu1"}[label]+".service") {
			t.Errorf("plan path %s", plan.path)
		}
	}
}
