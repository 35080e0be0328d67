package systemd

import (
	"reflect"
	"strings"
	"testing"

	"howett.net/plist"
)

// The plist is read back with a real plist parser, key by key.
func TestPlist(t *testing.T) {
	args := []string{"--home", "/Users/a b/.argus-agent", "--label", "gpu1", "--url", "https://h/?a=1&b=<2>", "--log-format", "json"}
	for _, tc := range []struct {
		name, runAs, log string
		user             bool
	}{
		{"LaunchAgent", "", "/Users/a b/Library/Logs/argus-agent-gpu1.log", true},
		{"LaunchDaemon", "alice", "/Library/Logs/argus-agent-gpu1.log", false},
		{"LaunchDaemon as root", "", "/Library/Logs/argus-agent-gpu1.log", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := PlistParams{
				Name: "argus-agent-gpu1", Exec: "/usr/local/bin/argus-agent", Args: args,
				LogPath: LaunchdLogPath("/Users/a b", tc.user, "argus-agent-gpu1"), RunAs: tc.runAs,
			}
			text, err := RenderPlist(p)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(text, "_live_") || strings.Contains(text, "{{") || strings.Contains(text, "EnvironmentVariables") {
				t.Errorf("token, template or environment in the plist:\n%s", text)
			}
			var got map[string]any
			format, err := plist.Unmarshal([]byte(text), &got)
			if err != nil {
				t.Fatalf("not a plist: %v\n%s", err, text)
			}
			if format != plist.XMLFormat {
				t.Errorf("format %v, want XML", format)
			}
			want := map[string]any{
				"Label":               "argus-agent-gpu1",
				"ProgramArguments":    append([]any{"/usr/local/bin/argus-agent"}, anys(args)...),
				"RunAtLoad":           true,
				"KeepAlive":           map[string]any{"SuccessfulExit": false},
				"ThrottleInterval":    uint64(5),
				"ExitTimeOut":         uint64(30),
				"AbandonProcessGroup": true,
				"StandardOutPath":     tc.log,
				"StandardErrorPath":   tc.log,
			}
			if tc.runAs != "" {
				want["UserName"] = tc.runAs
			}
			for k, v := range want {
				if !reflect.DeepEqual(got[k], v) {
					t.Errorf("%s = %#v, want %#v", k, got[k], v)
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("unexpected key %s = %#v", k, got[k])
				}
			}
		})
	}
}

func anys(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func TestPlistRefuses(t *testing.T) {
	for name, p := range map[string]PlistParams{
		"no name":       {Exec: "/bin/a", LogPath: "/l"},
		"relative exec": {Name: "n", Exec: "a", LogPath: "/l"},
		"relative log":  {Name: "n", Exec: "/bin/a", LogPath: "l"},
	} {
		if _, err := RenderPlist(p); err == nil {
			t.Errorf("%s: rendered", name)
		}
	}
}

func TestLaunchdLogPath(t *testing.T) {
	if got := LaunchdLogPath("/Users/bob", true, "argus-agent"); got != "/Users/bob/Library/Logs/argus-agent.log" {
		t.Errorf("user: %s", got)
	}
	if got := LaunchdLogPath("/Users/bob", false, "argus-agent-x"); got != "/Library/Logs/argus-agent-x.log" {
		t.Errorf("system: %s", got)
	}
}
