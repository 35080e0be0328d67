//go:build unix

package agent

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/argus-exec/argus/agent/internal/proc"
	"github.com/argus-exec/argus/server/api"
)

// processes for the watch: this test process (running) and a process
// that has ended and been reaped (gone).
func processes(t *testing.T) (running, gone proc.Process) {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	gone = proc.Identify(cmd.Process.Pid)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	return proc.Identify(os.Getpid()), gone
}

func writeStatus(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// When a run started by an earlier agent is over, and what is known of
// how: the status file decides whenever it is there; without one, the
// run is over once neither its leader nor its supervisor runs; a record
// from before supervisors (no status path) is over with its leader.
func TestRunWatchDecidesWhenARunIsOverAndHow(t *testing.T) {
	running, gone := processes(t)
	status := filepath.Join(t.TempDir(), "run.exit")
	at := time.Now()
	watch := func(leader, supervisor proc.Process, statusPath string) *runWatch {
		return &runWatch{leader: leader, supervisor: supervisor, statusPath: statusPath}
	}
	cases := []struct {
		name string
		w    *runWatch
		over bool
	}{
		{"old record, leader running", watch(running, proc.Process{}, ""), false},
		{"old record, leader gone", watch(gone, proc.Process{}, ""), true},
		{"leader gone, supervisor still writing", watch(gone, running, status), false},
		{"leader running, supervisor gone", watch(running, gone, status), false},
		{"both gone, no status file", watch(gone, gone, status), true},
		{"supervisor unknown, both gone: a grace first", watch(gone, proc.Process{}, status), false},
	}
	for _, c := range cases {
		if over, exit, err := c.w.check(at); over != c.over || exit != nil || err != nil {
			t.Errorf("%s: over %v, exit %v, err %v; want over %v", c.name, over, exit, err, c.over)
		}
	}
	unknown := watch(gone, proc.Process{}, status)
	unknown.check(at)
	if over, _, _ := unknown.check(at.Add(unknownSupervisorGrace)); !over {
		t.Error("a run with no processes and an unknown supervisor is still not over after the grace")
	}

	writeStatus(t, status, `{"pid": 7, "started_at": "2026-01-01T00:00:00Z", "exit_code": 9, "ended_at": "2026-01-01T00:01:00Z"}`)
	over, exit, err := watch(running, running, status).check(at)
	if !over || err != nil || exit == nil || exit.Code == nil || *exit.Code != 9 {
		t.Fatalf("with a status file: over %v, exit %+v, err %v; want exit code 9", over, exit, err)
	}
	writeStatus(t, status, `{"pid": 7`)
	if over, exit, err := watch(running, running, status).check(at); !over || exit != nil || err == nil {
		t.Fatalf("corrupt status file: over %v, exit %+v, err %v; want over, unknown, an error", over, exit, err)
	}
}

// prune takes a run's status file with its log and its record.
func TestPruneRemovesTheStatusFileWithTheLog(t *testing.T) {
	dir := t.TempDir()
	j, err := openJournal(filepath.Join(dir, "journal"))
	if err != nil {
		t.Fatal(err)
	}
	logPath, statusPath := filepath.Join(dir, "run_1.log"), filepath.Join(dir, "run_1.exit")
	writeStatus(t, logPath, "out\n")
	writeStatus(t, statusPath, "{}")
	if err := j.create(Record{CmdID: "cmd_1", Kind: api.KindRerun, RunID: "run_1", State: stateEnded,
		LogPath: logPath, StatusPath: statusPath}); err != nil {
		t.Fatal(err)
	}
	j.prune(-time.Hour)
	for _, p := range []string{logPath, statusPath} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s after prune: %v, want it gone", filepath.Base(p), err)
		}
	}
}
