package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
)

// goodBatch is a batch every check accepts; tests spoil one field of it.
func goodBatch() api.CreateBatchRequest {
	return api.CreateBatchRequest{Project: "mnist", Name: "t", EnvSnapshot: api.EnvSnapshot{
		Command: api.CommandLine{Argv: []string{"python", "train.py"}}, Cwd: "/srv/exp", Host: "gpu-01",
		Env: map[string]string{"PATH": "/usr/bin"},
	}}
}

// envOf is n distinct variables.
func envOf(n int) map[string]string {
	env := make(map[string]string, n)
	for i := range n {
		env[fmt.Sprintf("V%d", i)] = "1"
	}
	return env
}

// refusal is one spoilt request: want is what its error must name.
type refusal struct {
	name  string
	spoil func(*api.CreateBatchRequest)
	want  string
}

// Every field of a batch has a limit and a shape; a batch over one is 400
// naming the field, and nothing is stored. Each case was accepted before
// the limits existed.
func TestBatchFieldLimitsAndShapes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	h.batch(alice, "mnist", "gpu-01")
	long := func(n int) string { return strings.Repeat("a", n) }
	cases := []refusal{
		{"long name", func(r *api.CreateBatchRequest) { r.Name = long(api.MaxBatchName + 1) }, "name is longer than 256 bytes"},
		{"long host", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Host = long(api.MaxHost + 1) }, "env_snapshot.host is longer than 255 bytes"},
		{"long cwd", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Cwd = "/" + long(api.MaxCwd) }, "env_snapshot.cwd is longer than 4096 bytes"},
		{"many args", func(r *api.CreateBatchRequest) {
			r.EnvSnapshot.Command.Argv = strings.Fields(strings.Repeat("x ", api.MaxArgs+1))
		}, "env_snapshot.command has more than 4096 elements"},
		{"long arg", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Command.Argv[1] = long(api.MaxArg + 1) }, "env_snapshot.command[1] is longer than 131072 bytes"},
		{"long shell", func(r *api.CreateBatchRequest) {
			r.EnvSnapshot.Command = api.CommandLine{Shell: long(api.MaxShell + 1)}
		}, "env_snapshot.command is longer than 131072 bytes"},
		{"many vars", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Env = envOf(api.MaxEnvVars + 1) }, "env_snapshot.env has more than 1024 entries"},
		{"long var name", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Env[long(api.MaxEnvName+1)] = "1" }, "a name in env_snapshot.env is longer than 256 bytes"},
		{"long var value", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Env["BIG"] = long(api.MaxEnvValue + 1) }, "env_snapshot.env[BIG] is longer than 32768 bytes"},

		{"NUL in name", func(r *api.CreateBatchRequest) { r.Name = "a\x00b" }, "name holds a control character"},
		{"newline in name", func(r *api.CreateBatchRequest) { r.Name = "a\nb" }, "name holds a control character"},
		{"escape in host", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Host = "gpu\x1b[2J" }, "env_snapshot.host holds a control character"},
		{"DEL in cwd", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Cwd = "/srv\x7f" }, "env_snapshot.cwd holds a control character"},
		{"tab in cwd", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Cwd = "/srv\texp" }, "env_snapshot.cwd holds a control character"},
		// Invisible characters that move or break what a reader sees: a
		// right-to-left override (U+202E) shows "exp", RLO, "txt.exe" as "expexe.txt", and
		// a line separator starts a new line in some terminals and editors.
		{"RLO in name", func(r *api.CreateBatchRequest) { r.Name = "exp\u202etxt.exe" }, "name holds a bidirectional control (U+202E at byte 3)"},
		{"LRE in name", func(r *api.CreateBatchRequest) { r.Name = "\u202aexp" }, "name holds a bidirectional control (U+202A"},
		{"PDI in host", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Host = "gpu\u2069-01" }, "env_snapshot.host holds a bidirectional control (U+2069"},
		{"RLI in cwd", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Cwd = "/srv/\u2067exp" }, "env_snapshot.cwd holds a bidirectional control (U+2067"},
		{"line separator in name", func(r *api.CreateBatchRequest) { r.Name = "a\u2028b" }, "name holds a line or paragraph separator (U+2028"},
		{"paragraph separator in cwd", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Cwd = "/a\u2029b" }, "env_snapshot.cwd holds a line or paragraph separator (U+2029"},
		// A host is compared with the agents' hostnames: with a blank at
		// either end no agent ever matches, and every rerun would be 409.
		{"leading blank in host", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Host = " gpu-01" }, "env_snapshot.host has blanks at its start or end"},
		{"trailing blank in host", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Host = "gpu-01 " }, "env_snapshot.host has blanks at its start or end"},
		{"trailing no-break space in host", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Host = "gpu-01\u00a0" }, "env_snapshot.host has blanks at its start or end"},
		{"relative cwd", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Cwd = "srv/exp" }, "env_snapshot.cwd must be an absolute path"},
		{"dot cwd", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Cwd = "." }, "env_snapshot.cwd must be an absolute path"},
		{"drive-relative cwd", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Cwd = `C:exp` }, "env_snapshot.cwd must be an absolute path"},
		{"NUL in shell", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Command = api.CommandLine{Shell: "echo \x00"} }, "env_snapshot.command must not contain NUL"},
		{"NUL in arg", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Command.Argv[1] = "a\x00" }, "env_snapshot.command[1] must not contain NUL"},
		{"= in var name", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Env["A=B"] = "1" }, `name "A=B" in env_snapshot.env`},
		{"empty var name", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Env[""] = "1" }, `name "" in env_snapshot.env`},
		{"newline in var name", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Env["A\nB"] = "1" }, `name "A\nB" in env_snapshot.env`},
		{"NUL in var value", func(r *api.CreateBatchRequest) { r.EnvSnapshot.Env["A"] = "x\x00y" }, "env_snapshot.env[A] must not contain NUL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.t = t
			req := goodBatch()
			c.spoil(&req)
			before := h.snapshot()
			if msg := errorOf(t, h.expect(400, "POST", "/api/batches", alice, req)); !strings.Contains(msg, c.want) {
				t.Errorf("error %q, want it to say %q", msg, c.want)
			}
			h.unchanged(before, c.name)
		})
	}
}

// Right at each limit, and in each shape the checks must not mistake for
// a bad one, a batch is accepted.
func TestBatchAtTheLimitsIsAccepted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{MaxBodyBytes: 4 << 20})
	alice := h.user("alice")
	long := func(n int) string { return strings.Repeat("a", n) }
	cases := map[string]func(*api.CreateBatchRequest){
		"name": func(r *api.CreateBatchRequest) { r.Name = long(api.MaxBatchName) },
		"host": func(r *api.CreateBatchRequest) { r.EnvSnapshot.Host = long(api.MaxHost) },
		"cwd":  func(r *api.CreateBatchRequest) { r.EnvSnapshot.Cwd = "/" + long(api.MaxCwd-1) },
		"args": func(r *api.CreateBatchRequest) {
			r.EnvSnapshot.Command.Argv = strings.Fields(strings.Repeat("x ", api.MaxArgs))
		},
		"arg":         func(r *api.CreateBatchRequest) { r.EnvSnapshot.Command.Argv[1] = long(api.MaxArg) },
		"shell":       func(r *api.CreateBatchRequest) { r.EnvSnapshot.Command = api.CommandLine{Shell: long(api.MaxShell)} },
		"vars":        func(r *api.CreateBatchRequest) { r.EnvSnapshot.Env = envOf(api.MaxEnvVars) },
		"var name":    func(r *api.CreateBatchRequest) { r.EnvSnapshot.Env[long(api.MaxEnvName)] = "1" },
		"var value":   func(r *api.CreateBatchRequest) { r.EnvSnapshot.Env["BIG"] = long(api.MaxEnvValue) },
		"drive cwd":   func(r *api.CreateBatchRequest) { r.EnvSnapshot.Cwd = `C:\Users\ana\exp` },
		"slash drive": func(r *api.CreateBatchRequest) { r.EnvSnapshot.Cwd = `d:/exp` },
		"UNC cwd":     func(r *api.CreateBatchRequest) { r.EnvSnapshot.Cwd = `\\fileserver\share\exp` },
		"value with tab and newline": func(r *api.CreateBatchRequest) {
			r.EnvSnapshot.Env["PS1"] = "\\u@\\h\t$ \n"
		},
		"unicode": func(r *api.CreateBatchRequest) {
			r.Name, r.EnvSnapshot.Cwd, r.EnvSnapshot.Env["ÜBER"] = "réseau ✓", "/données", "ja"
		},
		// Right-to-left text needs its marks (U+200E, U+200F), which only
		// set the direction of neutral characters next to them, and names
		// may hold no-break or ideographic spaces.
		"marks and spaces": func(r *api.CreateBatchRequest) {
			r.Name, r.EnvSnapshot.Cwd = "ניסוי\u200f 3\u00a0a\u3000b", "/data/\u200eניסוי"
		},
		// The user's own bytes: what the shell line and environment values
		// hold is passed to the process as it is (argus strips control
		// sequences when it prints them), so only NUL, which no process can
		// receive, is refused there.
		"controls in shell and values": func(r *api.CreateBatchRequest) {
			r.EnvSnapshot.Command = api.CommandLine{Shell: "printf '\x1b[1m%s\u202e' \"$X\""}
			r.EnvSnapshot.Env["PROMPT"] = "\x1b[32m$\x1b[0m\u2028\u202e"
		},
		"blank inside host": func(r *api.CreateBatchRequest) { r.EnvSnapshot.Host = "gpu 01" },
	}
	for name, grow := range cases {
		req := goodBatch()
		grow(&req)
		if len(req.EnvSnapshot.Env) == 0 {
			t.Fatalf("%s: test batch lost its env", name)
		}
		h.expect(201, "POST", "/api/batches", alice, req)
	}
}

// The user-facing fields of the other bodies have limits too.
func TestOtherUserFieldLimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	h.user("bob")
	id := h.batch(alice, "mnist", "gpu-01")
	agentID, agentTok := h.agent(alice, "gpu-01", "", true)
	q := h.started(alice, id, agentID, agentTok, 42)
	long := strings.Repeat("a", 100)
	cases := []struct {
		name, path string
		body       any
		want       string
	}{
		{"share user", "/api/projects/mnist/recipients", api.ShareRequest{User: strings.Repeat("b", api.MaxUserName+1)}, "user is longer than 64 bytes"},
		{"share user control", "/api/projects/mnist/recipients", api.ShareRequest{User: "bob\n"}, "user holds a control character"},
		{"stop reason bidi", "/api/runs/" + q.RunID + "/stop", api.StopRequest{Reason: "GPU \u202eneeded"}, "reason holds a bidirectional control"},
		{"share user separator", "/api/projects/mnist/recipients", api.ShareRequest{User: "bob\u2028"}, "user holds a line or paragraph separator"},
		{"stop grace", "/api/runs/" + q.RunID + "/stop", api.StopRequest{GracePeriod: "1" + long + "s"}, "grace_period is longer than 32 bytes"},
		{"rerun agent", "/api/batches/" + id + "/rerun", api.RerunRequest{AgentID: long}, "agent_id is longer than 64 bytes"},
	}
	for _, c := range cases {
		before := h.snapshot()
		if msg := errorOf(t, h.expect(400, "POST", c.path, alice, c.body)); !strings.Contains(msg, c.want) {
			t.Errorf("%s: error %q, want it to say %q", c.name, msg, c.want)
		}
		h.unchanged(before, c.name)
	}
}
