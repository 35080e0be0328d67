//go:build linux

package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
)

// TestOpenHomeRefusedEndToEnd starts the real argus-agent on a home other
// users can write: the daemon and --register both exit 78 with one line
// saying how to fix it, before any request reaches the server; after the
// chmod the message gives, the same agent starts.
func TestOpenHomeRefusedEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	home := e.agentHome("")
	if err := os.Chmod(home, 0o777); err != nil {
		t.Fatal(err)
	}
	bin := e.Bin(testenv.AgentBin)
	want := "argus-agent: " + home + " is writable by other users (mode 0777): run chmod 700 " + home + "\n"

	r := e.Run(testenv.RunSpec{Argv: []string{bin, "--home", home, "--heartbeat-interval", "1s"}, Env: []string{"ARGUS_TOKEN="}})
	if r.Code != 78 || r.Stderr != want || r.Stdout != "" {
		t.Fatalf("daemon on a 0777 home: %s\nwant exit 78 and stderr %q", r, want)
	}
	agents := e.listAgents()
	if len(agents) != 1 || agents[0].LastHeartbeat != nil || agents[0].Online {
		t.Fatalf("the refused daemon reached the server: %+v", agents)
	}

	open := filepath.Join(e.Dir, "open-home")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	r = e.Run(testenv.RunSpec{
		Argv: []string{bin, "--register", "--home", open},
		Env:  []string{"ARGUS_URL=" + e.server.URL, "ARGUS_TOKEN=" + e.token},
	})
	if r.Code != 78 || !strings.HasSuffix(r.Stderr, "(mode 0777): run chmod 700 "+open+"\n") || strings.Count(r.Stderr, "\n") != 1 {
		t.Fatalf("--register into a 0777 home: %s", r)
	}
	if n := len(e.listAgents()); n != 1 {
		t.Fatalf("the refused --register created an agent: %d agents", n)
	}
	if entries, _ := os.ReadDir(open); len(entries) != 0 {
		t.Fatalf("the refused --register wrote into the home: %v", entries)
	}

	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	e.startAgent(home)
}

func (e *env) listAgents() []api.Agent {
	e.t.Helper()
	list, err := e.user.Agents(context.Background(), client.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return list.Agents
}
