//go:build linux

package agent_test

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/argus-exec/argus/internal/testenv"
)

// TestDemoScriptRunsTheWholeLoop keeps the README's first command honest:
// ./demo on a fresh state directory brings up a server and an agent, and a
// rerun of its sample batch runs through the agent. A second ./demo on the
// same state gets another port (ARGUS_ADDR=127.0.0.1:0), so its agent,
// registered with the first address, must move to the new one.
func TestDemoScriptRunsTheWholeLoop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	firstAddr := runDemo(t, dir)
	if again := runDemo(t, dir); again == firstAddr {
		t.Logf("both runs got port %s: the move to another address was not exercised", again)
	}
}

// runDemo starts ./demo on dir, reruns its sample batch through its agent,
// stops it with Ctrl-C and returns the address its server listened on.
func runDemo(t *testing.T, dir string) string {
	t.Helper()
	demo := exec.Command("../demo")
	// Any free port: the demo reads back the one the server got.
	demo.Env = testenv.ChildEnv([]string{"ARGUS_ADDR=127.0.0.1:0", "ARGUS_DEMO_DIR=" + dir})
	demo.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := demo.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	demo.Stderr = demo.Stdout
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-demo.Process.Pid, syscall.SIGKILL); demo.Wait() })

	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var seen []string
	var batch, addr string
	rerunLine := regexp.MustCompile(`argus rerun (bat_\S+) --wait\s+# runs 'count'`)
	serverLine := regexp.MustCompile(`server on http://(127\.0\.0\.1:\d+),`)
	deadline := time.After(3 * time.Minute)
	for batch == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("demo ended early:\n%s", strings.Join(seen, "\n"))
			}
			seen = append(seen, l)
			if m := rerunLine.FindStringSubmatch(l); m != nil {
				batch = m[1]
			}
			if m := serverLine.FindStringSubmatch(l); m != nil {
				addr = m[1]
			}
		case <-deadline:
			t.Fatalf("demo did not come up:\n%s", strings.Join(seen, "\n"))
		}
	}
	if addr == "" {
		t.Fatalf("demo did not say where its server listens:\n%s", strings.Join(seen, "\n"))
	}
	tok, err := os.ReadFile(dir + "/token")
	if err != nil {
		t.Fatal(err)
	}
	rerun := exec.Command(dir+"/bin/argus", "rerun", batch, "--wait")
	rerun.Env = testenv.ChildEnv([]string{"ARGUS_URL=http://" + addr, "ARGUS_TOKEN=" + strings.TrimSpace(string(tok))})
	res, err := rerun.CombinedOutput()
	if err != nil || !regexp.MustCompile(`status:\s+(running|exited)`).Match(res) {
		t.Fatalf("rerun of the demo batch: %v\n%s", err, res)
	}
	if err := syscall.Kill(-demo.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for range lines { // drain until the demo exits
	}
	demo.Wait()
	// Ctrl-C stops the server it started: nothing listens any more.
	waitFor(t, 10*time.Second, "the demo's server to stop", func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	return addr
}
