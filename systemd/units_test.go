package systemd

import (
	"bufio"
	"reflect"
	"strings"
	"testing"
)

// unit is a parsed unit file: section → key → values in file order.
type unit map[string]map[string][]string

// parseUnit reads the unit file syntax the templates use (systemd.syntax(7)
// without line continuations, which they never emit).
func parseUnit(t *testing.T, text string) unit {
	t.Helper()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if u[section] != nil {
				t.Fatalf("section [%s] twice", section)
			}
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("not a key=value line in a section: %q", line)
			}
			if strings.HasSuffix(line, `\`) {
				t.Fatalf("line continuation: %q", line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	return u
}

// want checks that section.key has exactly the given values ("" for absent).
func (u unit) want(t *testing.T, section, key string, values ...string) {
	t.Helper()
	got := u[section][key]
	if len(values) == 1 && values[0] == "" {
		values = nil
	}
	if !reflect.DeepEqual(got, values) {
		t.Errorf("[%s] %s = %q, want %q", section, key, got, values)
	}
}

func render(t *testing.T, p UnitParams) (string, unit) {
	t.Helper()
	text, err := Render(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text, "_live_") || strings.Contains(text, "{{") {
		t.Errorf("token text or template left in the unit:\n%s", text)
	}
	return text, parseUnit(t, text)
}

// checkCommon checks what every unit must hold, system or user.
func checkCommon(t *testing.T, u unit) {
	t.Helper()
	if len(u) != 3 || u["Unit"] == nil || u["Service"] == nil || u["Install"] == nil {
		t.Errorf("sections %v, want Unit, Service and Install", u)
	}
	u.want(t, "Service", "Type", "simple")
	u.want(t, "Service", "KillMode", "process")
	u.want(t, "Service", "Restart", "on-failure")
	u.want(t, "Service", "RestartSec", "5s")
	u.want(t, "Service", "RestartPreventExitStatus", "78")
	u.want(t, "Service", "TimeoutStopSec", "30s")
	for _, k := range []string{"Environment", "EnvironmentFile", "PassEnvironment", "SetCredential", "LoadCredential"} {
		u.want(t, "Service", k, "")
	}
	if ExitTokenRejected != 78 {
		t.Errorf("ExitTokenRejected is %d; this test expects 78", ExitTokenRejected)
	}
}

func TestSystemUnit(t *testing.T) {
	_, u := render(t, UnitParams{
		Exec: "/usr/local/bin/argus-agent", RunAs: "alice",
		Args: []string{"--home", "/home/alice/.argus-agent", "--url", "https://argus.example", "--log-format", "json"},
	})
	checkCommon(t, u)
	u.want(t, "Unit", "Description", "Argus agent: runs recorded commands for an Argus server")
	u.want(t, "Unit", "After", "network-online.target")
	u.want(t, "Unit", "Wants", "network-online.target")
	u.want(t, "Service", "ExecStart", "/usr/local/bin/argus-agent --home /home/alice/.argus-agent --url https://argus.example --log-format json")
	u.want(t, "Service", "User", "alice")
	u.want(t, "Install", "WantedBy", "multi-user.target")

	// Without RunAs there is no User= (root).
	_, u = render(t, UnitParams{Exec: "/usr/bin/argus-agent"})
	u.want(t, "Service", "User", "")
	u.want(t, "Service", "ExecStart", "/usr/bin/argus-agent")
}

func TestUserUnit(t *testing.T) {
	_, u := render(t, UnitParams{Exec: "/home/bob/bin/argus-agent", User: true, Args: []string{"--home", "/home/bob/.argus-agent"}})
	checkCommon(t, u)
	u.want(t, "Unit", "After", "")
	u.want(t, "Unit", "Wants", "")
	u.want(t, "Service", "User", "")
	u.want(t, "Service", "ExecStart", "/home/bob/bin/argus-agent --home /home/bob/.argus-agent")
	u.want(t, "Install", "WantedBy", "default.target")
}

func TestTemplateUnit(t *testing.T) {
	for _, user := range []bool{false, true} {
		text, u := render(t, UnitParams{Exec: "/usr/bin/argus-agent", Label: "gpu1", User: user, Args: []string{"--home", "/srv/argus"}})
		checkCommon(t, u)
		u.want(t, "Unit", "Description", "Argus agent %i: runs recorded commands for an Argus server")
		u.want(t, "Service", "ExecStart", "/usr/bin/argus-agent --label %i --home /srv/argus")
		if user {
			u.want(t, "Install", "WantedBy", "default.target")
			u.want(t, "Unit", "After", "")
		} else {
			u.want(t, "Install", "WantedBy", "multi-user.target")
			u.want(t, "Unit", "After", "network-online.target")
		}
		// The rendered template does not depend on which instance it is.
		if strings.Contains(text, "gpu1") {
			t.Errorf("instance name baked into the template:\n%s", text)
		}
	}
	if UnitName("") != "argus-agent.service" || UnitName("gpu1") != "argus-agent@gpu1.service" {
		t.Errorf("UnitName: %q %q", UnitName(""), UnitName("gpu1"))
	}
}

func TestExecWordQuoting(t *testing.T) {
	for in, want := range map[string]string{
		"--home":                 "--home",
		"/a/b-c_d.e:f=g,h+i@j":   "/a/b-c_d.e:f=g,h+i@j",
		"":                       `""`,
		"with space":             `"with space"`,
		"100%":                   "100%%",
		"$HOME":                  "$$HOME",
		"${X} y":                 `"$${X} y"`,
		`quote"back\slash`:       `"quote\"back\\slash"`,
		";":                      `";"`,
		"'single'":               `"'single'"`,
		"/Users/A B/argus-agent": `"/Users/A B/argus-agent"`,
	} {
		got, err := execWord(in)
		if err != nil || got != want {
			t.Errorf("execWord(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := execWord("a\nExecStartPre=/bin/evil"); err == nil {
		t.Error("a newline in an argument was accepted")
	}
}

func TestRenderRefuses(t *testing.T) {
	for name, p := range map[string]UnitParams{
		"relative exec":     {Exec: "bin/argus-agent"},
		"user with User=":   {Exec: "/bin/argus-agent", User: true, RunAs: "alice"},
		"bad user name":     {Exec: "/bin/argus-agent", RunAs: "al ice\nExecStartPre=/x"},
		"label in args":     {Exec: "/bin/argus-agent", Label: "x", Args: []string{"--label", "y"}},
		"label= in args":    {Exec: "/bin/argus-agent", Label: "x", Args: []string{"--label=y"}},
		"label with slash":  {Exec: "/bin/argus-agent", Label: "a/b"},
		"newline in args":   {Exec: "/bin/argus-agent", Args: []string{"x\ny"}},
		"newline in exec":   {Exec: "/bin/argus\n-agent"},
		"control character": {Exec: "/bin/argus-agent", Args: []string{"\x1b[31m"}},
	} {
		if text, err := Render(p); err == nil {
			t.Errorf("%s: rendered\n%s", name, text)
		}
	}
}
