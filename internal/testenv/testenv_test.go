package testenv

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/client"
)

func TestMain(m *testing.M) { Main(m) }

func TestParseMetricsKeepsLabelsAndSkipsComments(t *testing.T) {
	m := parseMetrics([]byte("# HELP x y\n# TYPE x gauge\nargus_jobs_polls_held 3\nargus_commands{state=\"queued\"} 2\nbad line\n"))
	if m["argus_jobs_polls_held"] != 3 || m[`argus_commands{state="queued"}`] != 2 || len(m) != 2 {
		t.Fatalf("parsed %v", m)
	}
}

func TestListeningLineIsReadAfterTheOffset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.log")
	first := `{"level":"info","addr":"127.0.0.1:1111","tls":false,"message":"argus-server listening"}` + "\n"
	second := "not json\n" + `{"level":"info","addr":"127.0.0.1:2222","tls":true,"message":"argus-server listening"}` + "\n"
	if err := os.WriteFile(path, []byte(first+second), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, tls, err := listeningLine(path, 0, "argus-server listening")
	if err != nil || addr != "127.0.0.1:1111" || tls {
		t.Fatalf("from 0: %q %v %v", addr, tls, err)
	}
	addr, tls, err = listeningLine(path, int64(len(first)), "argus-server listening")
	if err != nil || addr != "127.0.0.1:2222" || !tls {
		t.Fatalf("after a restart: %q %v %v", addr, tls, err)
	}
	if _, _, err := listeningLine(path, int64(len(first+second)), "argus-server listening"); err == nil {
		t.Fatal("found a listening line past the end")
	}
}

func TestChildEnvDropsTheDevelopersArgusSettings(t *testing.T) {
	t.Setenv("ARGUS_TOKEN", "em_live_x")
	env := strings.Join(ChildEnv([]string{"ARGUS_URL=http://x"}), "\n")
	if strings.Contains(env, "em_live_x") || !strings.Contains(env, "ARGUS_URL=http://x") {
		t.Fatalf("child env:\n%s", env)
	}
}

func TestPollStopsAtOnceOnAPermanentError(t *testing.T) {
	gone := errors.New("gone")
	start := time.Now()
	err := Poll(context.Background(), 10*time.Second, func() error { return permanent(gone) })
	if !errors.Is(err, gone) || time.Since(start) > time.Second {
		t.Fatalf("poll = %v after %v", err, time.Since(start))
	}
	err = Poll(context.Background(), 50*time.Millisecond, func() error { return errors.New("not yet") })
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "not yet") {
		t.Fatalf("poll past its deadline = %v", err)
	}
}

// The server is started on port 0 and found where it says it listens; a
// Restartable one comes back on a new port behind the same URL, and is
// unreachable (a network error, not a hang) while it is down; a server
// that cannot start is reported at once with its output, not after the
// ready timeout.
func TestServerOnAnyPortRestartsBehindItsURL(t *testing.T) {
	t.Parallel()
	e := New(t)
	plain := e.StartServer(ServerSpec{})
	if plain.URL != "http://"+plain.Addr || strings.HasSuffix(plain.Addr, ":0") {
		t.Fatalf("server at %q (%q)", plain.URL, plain.Addr)
	}
	if err := plain.Restart(context.Background()); err == nil {
		t.Fatal("a server started without Restartable restarted")
	}

	s := e.StartServer(ServerSpec{Restartable: true})
	url, addr := s.URL, s.Addr
	if url == "http://"+addr {
		t.Fatalf("restartable server without a front door: %s", url)
	}
	s.Proc.Stop()
	if _, err := s.PollsHeld(context.Background()); err == nil {
		t.Fatal("a stopped server answered through its front door")
	}
	e.RestartServer(s)
	if s.URL != url || s.Addr == addr {
		t.Fatalf("restarted at %s behind %s, want a new port behind %s (was %s)", s.Addr, s.URL, url, addr)
	}
	if _, err := s.PollsHeld(context.Background()); err != nil {
		t.Fatalf("restarted server: %v", err)
	}

	start := time.Now()
	_, err := StartServer(context.Background(), ServerSpec{Bin: e.Bin(ServerBin), Dir: e.Dir, Args: []string{"--log-level", "loud"}})
	if err == nil || !strings.Contains(err.Error(), "log-level") || time.Since(start) > 10*time.Second {
		t.Fatalf("bad server start = %v after %v", err, time.Since(start))
	}
}

// An agent that dies is not ready, however recently its id heartbeated.
func TestAgentReadinessNeedsThisProcessAlive(t *testing.T) {
	t.Parallel()
	e := New(t)
	s := e.StartServer(ServerSpec{})
	tok := e.CreateUser(s, "alice")
	user := e.Client(s, tok, client.Options{RetryMax: -1})
	home, id := e.AgentHome(s, tok, "")
	a := e.StartAgent(s, AgentSpec{Home: home, Args: []string{"--heartbeat-interval", "1s"}}, id, user)
	if err := s.agentReady(context.Background(), a, user); err != nil {
		t.Fatalf("started agent not ready: %v", err)
	}
	a.Proc.Kill()
	if err := s.agentReady(context.Background(), a, user); err == nil {
		t.Fatal("a killed agent counts as ready")
	}
	// Its id still shows online (the online window), but a new process of
	// the same id is ready only on its own heartbeat and poll.
	b := e.StartAgent(s, AgentSpec{Home: home, Args: []string{"--heartbeat-interval", "1s"}}, id, user)
	if err := s.agentReady(context.Background(), b, user); err != nil {
		t.Fatalf("restarted agent not ready: %v", err)
	}
}
