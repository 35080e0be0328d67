package main

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/argus-exec/argus/agent"
	"github.com/argus-exec/argus/internal/tempdir"
)

func writeFile(t *testing.T, name, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(tempdir.New(t), name)
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigFile(t *testing.T) {
	cleanEnv(t)
	tok := userToken(t)
	path := writeFile(t, "agent.yaml", `
url: https://file.example
token: `+tok+`
label: file-label
home: /srv/argus-agent
grace-period: 20s
ca-cert: /etc/file-ca.pem
insecure-skip-verify: true
log-level: error
log-format: json
property: [x=1, y=2]
heartbeat-interval: 15s
poll-wait: 50s
report-resources: false
`, 0o600)
	f := &fake{}
	if r := execute(f, "--register", "--config", path); r.code != 0 {
		t.Fatalf("got %+v", r)
	}
	sameConfig(t, f.cfg, agent.Config{
		URL: "https://file.example", UserToken: tok, Label: "file-label",
		Home: absPath(t, "/srv/argus-agent"), GracePeriod: 20 * time.Second,
		CACertFile: absPath(t, "/etc/file-ca.pem"), InsecureSkipVerify: true,
		Properties:        map[string]string{"x": "1", "y": "2"},
		HeartbeatInterval: 15 * time.Second, PollWait: 50 * time.Second, MaxBackoff: 30 * time.Second, Version: version,
	})

	// Flags, then the environment, beat the file; ARGUS_AGENT_CONFIG names it.
	t.Setenv("ARGUS_AGENT_CONFIG", path)
	t.Setenv("ARGUS_AGENT_LABEL", "env-label")
	t.Setenv("ARGUS_POLL_WAIT", "9s")
	f = &fake{}
	if r := execute(f, "--label", "flag-label", "--grace-period", "2s", "--property", "z=3"); r.code != 0 {
		t.Fatalf("got %+v", r)
	}
	if f.cfg.Label != "flag-label" || f.cfg.GracePeriod != 2*time.Second || f.cfg.PollWait != 9*time.Second ||
		!reflect.DeepEqual(f.cfg.Properties, map[string]string{"z": "3"}) {
		t.Errorf("precedence flag > env > file broken: %+v", f.cfg)
	}
	if f.cfg.URL != "https://file.example" || f.cfg.HeartbeatInterval != 15*time.Second {
		t.Errorf("file values lost: %+v", f.cfg)
	}
	if f.cfg.UserToken != "" {
		t.Error("the user token from the file reached agent.Run")
	}
}

func TestConfigFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"unknown key", "grace_period: 5s\nurl: http://h\n", 0o644, `unknown setting "grace_period"`},
		{"action as setting", "register: true\n", 0o644, `unknown setting "register"`},
		{"not a map", "- a\n- b\n", 0o644, "not a YAML map"},
		{"wrong type", "grace-period: 5\n", 0o644, "grace-period"},
		{"property not a list", "property: a=1\n", 0o644, "property"},
		{"token readable by others", "token: em_live_x\n", 0o644, "chmod 600"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == "chmod 600" && runtime.GOOS == "windows" {
				t.Skip("Windows has no Unix file modes: the profile's ACL protects a config file there")
			}
			cleanEnv(t)
			path := writeFile(t, "agent.yaml", tc.content, tc.mode)
			f := &fake{}
			checkOneLine(t, execute(f, "--config", path), 1, tc.want)
			if f.runs != 0 {
				t.Error("agent ran despite a bad config file")
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		cleanEnv(t)
		checkOneLine(t, execute(&fake{}, "--config", filepath.Join(tempdir.New(t), "nope.yaml")), 1, "does not exist")
	})
}
