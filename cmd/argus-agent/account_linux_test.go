//go:build linux

package main

import (
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/argus-exec/argus/token"
)

// A system service runs as the owner of the token file (User= on systemd).
func TestServiceRunsAsTokenOwner(t *testing.T) {
	home := cleanEnv(t)
	agentHome := filepath.Join(home, ".argus-agent")
	register(t, agentHome, "")
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	r := executeService(&fakeControl{}, "print")
	hasUser := strings.Contains(r.stdout, "\nUser=")
	if r.code != 0 || hasUser != (os.Geteuid() != 0) || (hasUser && !strings.Contains(r.stdout, "\nUser="+me.Username+"\n")) {
		t.Errorf("as %s: got %+v", me.Username, r)
	}
	checkOneLine(t, executeService(&fakeControl{}, "print", "--user", "--run-as", me.Username), 1, "--run-as is for system services")
	checkOneLine(t, executeService(&fakeControl{}, "print", "--run-as", "no-such-user-x"), 1, "belongs to "+me.Username+", and the service must run as its owner")
	if r := executeService(&fakeControl{}, "print", "--run-as", me.Username); r.code != 0 {
		t.Errorf("--run-as the owner: %+v", r)
	}

	if os.Geteuid() != 0 {
		t.Log("not root: cannot hand the token file to another user, the rest is left out")
		return
	}
	other, err := user.LookupId("65534")
	if err != nil {
		t.Fatalf("no user 65534 (nobody) to hand the token file to: %v", err)
	}
	if err := os.Chown(token.CachePath(agentHome, ""), 65534, -1); err != nil {
		t.Fatal(err)
	}
	// The service would run as nobody from a home root owns: whoever owns
	// a home must be who runs the agent from it.
	checkOneLine(t, executeService(&fakeControl{}, "print"), 78, agentHome+" is owned by uid 0, not you (uid 65534)")
	if err := os.Chown(agentHome, 65534, -1); err != nil {
		t.Fatal(err)
	}
	r = executeService(&fakeControl{}, "print")
	if r.code != 0 || !strings.Contains(r.stdout, "\nUser="+other.Username+"\n") {
		t.Errorf("token owned by %s: %+v", other.Username, r)
	}
	checkOneLine(t, executeService(&fakeControl{}, "print", "--user"), 1, "belongs to "+other.Username+", but a --user service runs as you")
}

// Under sudo the default home is the invoking user's, where they registered.
func TestServiceHomeUnderSudo(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("sudo's rule applies to root only")
	}
	cleanEnv(t)
	other, err := user.LookupId("65534")
	if err != nil {
		t.Fatalf("no user 65534 (nobody): %v", err)
	}
	t.Setenv("SUDO_USER", other.Username)
	want := filepath.Join(other.HomeDir, ".argus-agent", "token.json")
	checkOneLine(t, executeService(&fakeControl{}, "print"), 1, "no token at "+want)
	// --user under sudo would install for root: refused.
	checkOneLine(t, executeService(&fakeControl{}, "print", "--user"), 1, "run it without sudo")
}
