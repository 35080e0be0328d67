package main

import (
	"reflect"
	"strings"
	"testing"

	"howett.net/plist"
)

// The plans for macOS and Windows are built and checked here on any host;
// only installing them needs the real system.
func TestPlanLaunchd(t *testing.T) {
	args := []string{"--home", "/Users/alice/.argus-agent", "--log-format", "json"}
	for _, tc := range []struct {
		user              bool
		label, runAs      string
		name, path, log   string
		kind              string
		programArguments  []any
		userNameInTheList bool
	}{
		{false, "gpu1", "alice", "argus-agent-gpu1", "/Library/LaunchDaemons/argus-agent-gpu1.plist", "/Library/Logs/argus-agent-gpu1.log", "launchd daemon",
			[]any{"/usr/local/bin/argus-agent", "--label", "gpu1", "--home", "/Users/alice/.argus-agent", "--log-format", "json"}, true},
		{true, "", "", "argus-agent", "/Users/alice/Library/LaunchAgents/argus-agent.plist", "/Users/alice/Library/Logs/argus-agent.log", "launchd agent",
			[]any{"/usr/local/bin/argus-agent", "--home", "/Users/alice/.argus-agent", "--log-format", "json"}, false},
	} {
		p, err := buildPlan(planInput{goos: "darwin", user: tc.user, label: tc.label, exe: "/usr/local/bin/argus-agent", args: args, runAs: tc.runAs, userHome: "/Users/alice"})
		if err != nil {
			t.Fatal(err)
		}
		if p.name != tc.name || p.path != tc.path || p.kind != tc.kind || p.config.Name != tc.name {
			t.Errorf("plan %s %s %s (config name %s)", p.name, p.path, p.kind, p.config.Name)
		}
		if p.config.Option["LaunchdConfig"] != p.content || p.config.Option["UserService"] != tc.user {
			t.Errorf("options %v do not carry the plist", p.config.Option)
		}
		var got map[string]any
		if _, err := plist.Unmarshal([]byte(p.content), &got); err != nil {
			t.Fatalf("plist: %v\n%s", err, p.content)
		}
		if !reflect.DeepEqual(got["ProgramArguments"], tc.programArguments) {
			t.Errorf("ProgramArguments %q, want %q", got["ProgramArguments"], tc.programArguments)
		}
		if got["StandardOutPath"] != tc.log || got["StandardErrorPath"] != tc.log || got["Label"] != tc.name {
			t.Errorf("log paths or label: %v", got)
		}
		if _, has := got["UserName"]; has != tc.userNameInTheList || (has && got["UserName"] != tc.runAs) {
			t.Errorf("UserName %v", got["UserName"])
		}
		if got["AbandonProcessGroup"] != true || !reflect.DeepEqual(got["KeepAlive"], map[string]any{"SuccessfulExit": false}) || got["RunAtLoad"] != true {
			t.Errorf("launchd keys: %v", got)
		}
	}
}

func TestPlanWindows(t *testing.T) {
	in := planInput{goos: "windows", label: "gpu1", exe: `C:\Program Files\Argus\argus-agent.exe`,
		args: []string{"--home", `C:\Users\al ice\.argus-agent`, "--log-file", `C:\Users\al ice\.argus-agent\argus-agent-gpu1.log`}}
	p, err := buildPlan(in)
	if err != nil {
		t.Fatal(err)
	}
	c := p.config
	if p.name != "argus-agent-gpu1" || p.path != "" || c.UserName != "" || c.Option["OnFailure"] != "restart" || c.Option["StartType"] != "automatic" {
		t.Errorf("plan %+v config %+v", p, c)
	}
	if want := append([]string{"--label", "gpu1"}, in.args...); !reflect.DeepEqual(c.Arguments, want) {
		t.Errorf("arguments %q, want %q", c.Arguments, want)
	}
	if _, has := c.Option["Password"]; has {
		t.Error("a password option without --run-as")
	}
	if !strings.Contains(p.content, `command:      "C:\Program Files\Argus\argus-agent.exe" --label gpu1 --home "C:\Users\al ice\.argus-agent"`) ||
		!strings.Contains(p.content, "account:      LocalSystem") {
		t.Errorf("description:\n%s", p.content)
	}
	in.runAs, in.password = `.\argus`, "s3cret"
	if p, err = buildPlan(in); err != nil || p.config.UserName != `.\argus` || p.config.Option["Password"] != "s3cret" || strings.Contains(p.content, "s3cret") {
		t.Errorf("--run-as: %v %+v\n%s", err, p.config, p.content)
	}
	in.user = true
	if _, err := buildPlan(in); err == nil || !strings.Contains(err.Error(), "Windows services are system-wide") {
		t.Errorf("--user on Windows: %v", err)
	}
}

func TestWinQuote(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:          `plain`,
		``:               `""`,
		`a b`:            `"a b"`,
		`C:\dir with\`:   `"C:\dir with\\"`,
		`say "hi"`:       `"say \"hi\""`,
		`back\"slash q`:  `"back\\\"slash q"`,
		`C:\no\spaces\x`: `C:\no\spaces\x`,
	} {
		if got := winQuote(in); got != want {
			t.Errorf("winQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestPlanRefuses(t *testing.T) {
	base := planInput{goos: "linux", exe: "/usr/bin/argus-agent", args: []string{"--home", "/h"}}
	for name, mutate := range map[string]func(*planInput){
		"token in an argument": func(in *planInput) { in.args = append(in.args, "--property", "k=ag_live_x") },
		"template in args":     func(in *planInput) { in.args = append(in.args, "--url", "http://h/{{x}}") },
		"unknown system":       func(in *planInput) { in.goos = "plan9" },
		"relative binary":      func(in *planInput) { in.exe = "argus-agent" },
	} {
		in := base
		in.args = append([]string(nil), base.args...)
		mutate(&in)
		if _, err := buildPlan(in); err == nil {
			t.Errorf("%s: planned", name)
		}
	}
}
