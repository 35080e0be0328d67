//go:build linux

package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
)

// logReader follows a run's log through the API as a user would.
type logReader struct {
	e      *env
	runID  string
	next   int64
	data   bytes.Buffer
	gaps   []int64 // bytes skipped at each jump of the offset
	pieces []client.LogPiece
	done   bool
}

// readUntil reads (held reads of at most 2s) until cond holds or the
// deadline passes.
func (l *logReader) readUntil(within time.Duration, what string, cond func(*logReader) bool) {
	l.e.t.Helper()
	deadline := time.Now().Add(within)
	for !cond(l) {
		if time.Now().After(deadline) {
			l.e.t.Fatalf("no %s within %v; log so far (%d bytes, complete %v): %q", what, within, l.data.Len(), l.done, tailOf(l.data.String()))
		}
		p, err := l.e.user.RunLog(context.Background(), l.runID, l.next, 2*time.Second)
		if err != nil {
			l.e.t.Fatalf("read log of %s: %v", l.runID, err)
		}
		if p.Offset > l.next {
			l.gaps = append(l.gaps, p.Offset-l.next)
		}
		l.data.Write(p.Data)
		l.next, l.done = p.Next, p.Complete
		l.pieces = append(l.pieces, *p)
	}
}

func tailOf(s string) string {
	if len(s) > 200 {
		return "…" + s[len(s)-200:]
	}
	return s
}

func has(s string) func(*logReader) bool {
	return func(l *logReader) bool { return strings.Contains(l.data.String(), s) }
}

func complete(l *logReader) bool { return l.done }

// The scripts here wait for files the test creates, and also end once
// their directory is gone ([ -d "$PWD" ]), so a failed test leaves no
// process behind.

// Lines a run prints are readable through the API while it runs, each as
// it comes, and the log is complete, whole and in order once it ends.
func TestOutputIsReadableWhileTheRunRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.startAgent(e.agentHome(""))
	id, cwd := e.batch(`echo "epoch 1 loss 0.9"; while [ ! -f next ] && [ -d "$PWD" ]; do sleep 0.05; done; ` +
		`echo "epoch 2 loss 0.5" >&2; while [ ! -f done ] && [ -d "$PWD" ]; do sleep 0.05; done; echo "bye"; exit 3`)
	runID := e.rerun(id)
	l := &logReader{e: e, runID: runID}
	l.readUntil(20*time.Second, "first line", has("epoch 1 loss 0.9\n"))
	if r := e.waitStatus(runID, api.RunRunning); r.Status != api.RunRunning {
		t.Fatalf("run = %+v", r)
	}
	touch(t, cwd, "next")
	l.readUntil(20*time.Second, "second line (stderr)", has("epoch 2 loss 0.5\n"))
	if r, err := e.user.Run(context.Background(), runID); err != nil || r.Status != api.RunRunning || l.done {
		t.Fatalf("run %+v (%v), complete %v: the line came only at the end", r, err, l.done)
	}
	finish(t, cwd)
	l.readUntil(20*time.Second, "the end", complete)
	if got, want := l.data.String(), "epoch 1 loss 0.9\nepoch 2 loss 0.5\nbye\n"; got != want {
		t.Fatalf("whole log %q, want %q", got, want)
	}
	if r := e.waitEnded(runID, 10*time.Second); r.ExitCode == nil || *r.ExitCode != 3 {
		t.Fatalf("run = %+v, want exit 3", r)
	}
}

// Past the server's --log-max, the log keeps the head and the newest
// output and the reader sees the jump; the output tail starts at a line.
func TestLogMaxKeepsHeadAndNewest(t *testing.T) {
	t.Parallel()
	e := newEnvSpec(t, testenv.ServerSpec{Args: []string{"--log-max", "2MiB"}})
	e.startAgent(e.agentHome(""))
	const lines = 700000 // about 4.8 MB
	id, _ := e.batch(fmt.Sprintf("seq 1 %d", lines))
	runID := e.rerun(id)
	var want bytes.Buffer
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&want, "%d\n", i)
	}
	// Read once live to the end, then again from the start: the second
	// reader sees what the server kept (the first may have read parts
	// that were dropped after).
	live := &logReader{e: e, runID: runID}
	live.readUntil(60*time.Second, "the whole log", complete)
	l := &logReader{e: e, runID: runID}
	l.readUntil(10*time.Second, "the whole log, again", complete)
	if len(l.gaps) != 1 {
		t.Fatalf("offset jumps %v, want one (the dropped middle)", l.gaps)
	}
	head := want.Bytes()[:api.LogHead]
	got := l.data.Bytes()
	if !bytes.HasPrefix(got, head) {
		t.Fatalf("log does not start with the first MiB of output")
	}
	if kept := int64(len(got)); kept+l.gaps[0] != int64(want.Len()) || !bytes.HasSuffix(got, want.Bytes()[want.Len()-(len(got)-api.LogHead):]) {
		t.Fatalf("kept %d bytes + gap %d, output %d: the newest part is not the end of the output", kept, l.gaps[0], want.Len())
	}
	if kept := len(got); kept > 2<<20 || kept < 1<<20+512<<10 {
		t.Fatalf("kept %d bytes under a 2 MiB cap", kept)
	}
	r := e.waitEnded(runID, 10*time.Second)
	if tail := r.Output(); len(tail) == 0 || len(tail) > api.MaxOutputTail || !bytes.HasSuffix(want.Bytes(), tail) ||
		want.Bytes()[want.Len()-len(tail)-1] != '\n' {
		t.Fatalf("output tail of %d bytes does not start at a line of the output's end: %q…", len(tail), tail[:min(len(tail), 20)])
	}
}

// The server goes away while a run prints and ends: once it is back, the
// run is exited with its real code and the log holds everything.
func TestOutputSurvivesAServerOutage(t *testing.T) {
	t.Parallel()
	e := newEnvSpec(t, testenv.ServerSpec{Restartable: true})
	home := e.agentHome("")
	e.StartAgent(e.server, testenv.AgentSpec{Home: home, Args: []string{
		"--heartbeat-interval", "1s", "--poll-wait", "5s", "--max-backoff", "1s",
	}}, e.ids[home], e.user)
	id, cwd := e.batch(`echo before; while [ ! -f go ] && [ -d "$PWD" ]; do sleep 0.05; done; seq 1 20000; echo after; exit 3`)
	runID := e.rerun(id)
	l := &logReader{e: e, runID: runID}
	l.readUntil(20*time.Second, "the first line", has("before\n"))

	if err := e.server.Proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	e.exit(e.server.Proc, 15*time.Second)
	touch(t, cwd, "go")
	waitFor(t, 20*time.Second, "the run to end during the outage", func() bool { return len(pidsOfRun(runID)) == 0 })
	e.RestartServer(e.server)

	l.readUntil(40*time.Second, "the whole log", complete)
	var want strings.Builder
	want.WriteString("before\n")
	for i := 1; i <= 20000; i++ {
		fmt.Fprintf(&want, "%d\n", i)
	}
	want.WriteString("after\n")
	if l.data.String() != want.String() {
		t.Fatalf("log after the outage: %d bytes, want %d; ends %q", l.data.Len(), want.Len(), tailOf(l.data.String()))
	}
	if r := e.waitEnded(runID, 20*time.Second); r.Status != api.RunExited || r.ExitCode == nil || *r.ExitCode != 3 {
		t.Fatalf("run after the outage = %+v, want exited 3", r)
	}
}
