package main_test

// End to end on real binaries: argus and argus-server are built, the server
// runs on a loopback port with a temp SQLite file, users come from
// `argus-server user create`, and every user action goes through the argus
// binary with ARGUS_URL/ARGUS_TOKEN. There is no agent daemon yet, so the
// agent is played through the client package on the real agent API.

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/server/api"
)

func TestCLIEndToEnd(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("records `sh -c`; the CLI's Windows behaviour is covered by unit tests")
	}
	t.Parallel()
	e := newE2E(t)
	alice, bob, carol := e.createUser(t, "alice"), e.createUser(t, "bob"), e.createUser(t, "carol")
	e.serve(t)
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	aliceCl := e.client(t, alice)
	aliceEnv, bobEnv, carolEnv := e.userEnv(alice), e.userEnv(bob), e.userEnv(carol)

	var (
		batch api.Batch // as recorded
		agent fakeAgent
		runID string
		pid   = os.Getpid() // what the played agent says it launched
		// and when that process started (whole microseconds survive any store)
		pidStarted = time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	)
	// Each step builds on the ones before it.
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("record", func(t *testing.T) {
		work := t.TempDir()
		env := e.userEnv(alice,
			"MY_SECRET_TOKEN=xyz", "AWS_SECRET_ACCESS_KEY=abc",
			"SOME_URL=https://u:"+alice+"@x", "PLAIN_VAR=ok")
		r := e.argus(t, env, work,
			"record", "--project", "mnist", "--name", "t1", "--", "sh", "-c", "echo hi; exit 3")
		if r.Code != 3 || r.Stdout != "hi\n" {
			t.Fatalf("record: want exit 3 and stdout \"hi\\n\", got %s", r)
		}
		m := regexp.MustCompile(`(?m)^argus: recorded batch (\S+)$`).FindStringSubmatch(r.Stderr)
		if m == nil {
			t.Fatalf("record did not say which batch it recorded: %s", r)
		}
		if strings.Contains(r.Stdout+r.Stderr, alice) {
			t.Fatal("record printed the user's token")
		}

		got, err := aliceCl.Batch(ctx, m[1])
		if err != nil {
			t.Fatal(err)
		}
		batch = *got
		if batch.Project != "mnist" || batch.Name != "t1" || batch.Owner != "alice" || len(batch.Runs) != 0 {
			t.Fatalf("recorded batch = %+v", batch)
		}
		snap := batch.EnvSnapshot
		if want := []string{"sh", "-c", "echo hi; exit 3"}; !reflect.DeepEqual(snap.Command.Argv, want) || snap.Command.Shell != "" {
			t.Fatalf("recorded command = %#v, want argv %q", snap.Command, want)
		}
		if snap.Cwd != work && !sameDir(snap.Cwd, work) {
			t.Fatalf("recorded cwd %q, want %q", snap.Cwd, work)
		}
		if snap.Host != host {
			t.Fatalf("recorded host %q, want %q", snap.Host, host)
		}
		// The CLI ran with exactly userEnv plus the four variables: the
		// secret-named ones, the one whose value holds a token, and
		// ARGUS_TOKEN must all be gone; nothing else may be dropped.
		wantEnv := map[string]string{
			"PATH": os.Getenv("PATH"), "HOME": os.Getenv("HOME"), "ARGUS_URL": e.server.URL, "PLAIN_VAR": "ok",
		}
		if !reflect.DeepEqual(snap.Env, wantEnv) {
			t.Fatalf("recorded env = %q\nwant %q", snap.Env, wantEnv)
		}
		for k, v := range snap.Env {
			if strings.Contains(k+v, "em_live_") || k == "ARGUS_TOKEN" {
				t.Fatalf("recorded env leaks %s=%s", k, v)
			}
		}

		// The CLI's own listing shows the same record.
		r = e.argus(t, aliceEnv, "", "batches", "--json")
		wantOK(t, "batches --json", r)
		var list api.BatchList
		if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil {
			t.Fatalf("batches --json: %v\n%s", err, r.Stdout)
		}
		if len(list.Batches) != 1 || list.Batches[0].ID != batch.ID ||
			!reflect.DeepEqual(list.Batches[0].EnvSnapshot, snap) {
			t.Fatalf("batches --json = %+v, want just %+v", list.Batches, batch)
		}
	})

	step("rerun without an agent is 409 and queues nothing", func(t *testing.T) {
		r := e.argus(t, aliceEnv, "", "rerun", batch.ID)
		wantFail(t, "rerun with no agent", r, "409", "no agent", host)
		runs, err := aliceCl.Runs(ctx, client.RunsOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(runs.Runs) != 0 {
			t.Fatalf("a refused rerun left runs behind: %+v", runs.Runs)
		}
	})

	step("rerun reaches the agent with the recorded command", func(t *testing.T) {
		agent = registerAgent(t, aliceCl, host)
		r := e.argus(t, aliceEnv, "", "agents")
		wantOK(t, "agents", r)
		if !hasRow(r.Stdout, agent.id, host, "online") {
			t.Fatalf("agents does not show %s on %s online:\n%s", agent.id, host, r.Stdout)
		}

		// As a real agent does, the ack says when the process started, so
		// that a later stop can tell it from one reusing its PID.
		got := agent.serveOne(func(api.Command) api.AckRequest { return api.AckRequest{PID: pid, StartedAt: &pidStarted} })
		r = e.argus(t, aliceEnv, "", "rerun", batch.ID, "--wait", "--wait-timeout", "20s")
		wantOK(t, "rerun --wait", r)
		g := await(t, got)
		cmd := g.cmd
		if cmd.Kind != api.KindRerun || cmd.BatchID != batch.ID || cmd.Rerun == nil || cmd.Stop != nil {
			t.Fatalf("agent got %+v, want a rerun of %s", cmd, batch.ID)
		}
		want := api.RerunSpec{Command: batch.EnvSnapshot.Command, Cwd: batch.EnvSnapshot.Cwd, Env: batch.EnvSnapshot.Env, RequestedBy: "alice"}
		if !reflect.DeepEqual(*cmd.Rerun, want) {
			t.Fatalf("agent got rerun %+v\nwant the recorded %+v", *cmd.Rerun, want)
		}
		runID = cmd.RunID
		for _, row := range [][]string{{runID, cmd.ID}, {"run:", runID}, {"status:", "running"}, {"pid:", strconv.Itoa(pid)}, {"agent:", agent.id}} {
			if !hasRow(r.Stdout, row...) {
				t.Fatalf("rerun --wait output lacks %q:\n%s", row, r.Stdout)
			}
		}
	})

	step("status and stop", func(t *testing.T) {
		r := e.argus(t, aliceEnv, "", "status", runID, "--json")
		wantOK(t, "status --json", r)
		var run api.Run
		if err := json.Unmarshal([]byte(r.Stdout), &run); err != nil {
			t.Fatalf("status --json: %v\n%s", err, r.Stdout)
		}
		if run.ID != runID || run.Status != api.RunRunning || run.PID != pid || run.AgentID != agent.id {
			t.Fatalf("status --json = %+v, want running with pid %d", run, pid)
		}

		got := agent.serveOne(func(api.Command) api.AckRequest { return api.AckRequest{Outcome: api.StopTerminated} })
		r = e.argus(t, aliceEnv, "", "stop", runID, "--grace", "3s", "--reason", "done with it")
		wantOK(t, "stop --grace 3s --reason", r)
		g := await(t, got)
		if !hasRow(r.Stdout, runID, g.cmd.ID) {
			t.Fatalf("stop did not print the run and the queued command %s:\n%s", g.cmd.ID, r.Stdout)
		}
		if g.cmd.Kind != api.KindStop || g.cmd.RunID != runID || g.cmd.Rerun != nil || g.cmd.Stop == nil ||
			g.cmd.Stop.PID != pid || g.cmd.Stop.GracePeriodMS != 3000 ||
			g.cmd.Stop.StoppedBy != "alice" || g.cmd.Stop.Reason != "done with it" ||
			g.cmd.Stop.StartedAt == nil || !g.cmd.Stop.StartedAt.Equal(pidStarted) {
			t.Fatalf("agent got %+v (stop %+v), want a stop of %s with pid %d, grace 3000ms, started at %v",
				g.cmd, g.cmd.Stop, runID, pid, pidStarted)
		}
		mid, err := aliceCl.Run(ctx, runID)
		if err != nil {
			t.Fatal(err)
		}
		if mid.Status != api.RunStopping || mid.StopOutcome != api.StopTerminated {
			t.Fatalf("after the stop ack, before the exit report: %+v", mid)
		}

		ended, err := agent.cl.ReportExit(ctx, agent.id, runID, api.ExitReport{
			Signal: "SIGTERM", EndedAt: time.Now().UTC(), OutputTail: "line1\nline2\n",
		})
		if err != nil {
			t.Fatal(err)
		}
		if ended.Status != api.RunStopped {
			t.Fatalf("exit report answered %+v", ended)
		}

		r = e.argus(t, aliceEnv, "", "status", runID)
		wantCode(t, "status of a stopped run", r, 5)
		for _, row := range [][]string{{"status:", "stopped"}, {"exit:", "SIGTERM"}, {"stop:", "terminated"}, {"pid:", strconv.Itoa(pid)},
			{"stopped", "by:", "alice"}, {"stop", "reason:", "done", "with", "it"}} {
			if !hasRow(r.Stdout, row...) {
				t.Fatalf("status output lacks %q:\n%s", row, r.Stdout)
			}
		}
		if !strings.HasSuffix(r.Stdout, "\noutput:\nline1\nline2\n") {
			t.Fatalf("status does not end with the output tail:\n%s", r.Stdout)
		}

		r = e.argus(t, aliceEnv, "", "stop", runID)
		wantFail(t, "stop of a stopped run", r, "409", "not running")
	})

	step("share", func(t *testing.T) {
		r := e.argus(t, bobEnv, "", "batches")
		wantOK(t, "bob batches before the share", r)
		if strings.Contains(r.Stdout, batch.ID) {
			t.Fatalf("bob sees alice's batch before it was shared:\n%s", r.Stdout)
		}
		wantFail(t, "bob status before the share", e.argus(t, bobEnv, "", "status", runID), "403")

		r = e.argus(t, aliceEnv, "", "share", "mnist", "bob")
		wantOK(t, "alice shares mnist", r)
		if !strings.Contains(r.Stdout, "mnist") || !strings.Contains(r.Stdout, "bob") {
			t.Fatalf("share output: %s", r.Stdout)
		}
		r = e.argus(t, bobEnv, "", "batches")
		wantOK(t, "bob batches after the share", r)
		if !hasRow(r.Stdout, batch.ID, "mnist", "t1", "alice", host) {
			t.Fatalf("bob does not see alice's shared batch:\n%s", r.Stdout)
		}
		r = e.argus(t, bobEnv, "", "status", runID)
		wantCode(t, "bob status after the share", r, 5)
		if !hasRow(r.Stdout, "status:", "stopped") {
			t.Fatalf("bob's status:\n%s", r.Stdout)
		}

		r = e.argus(t, bobEnv, "", "share", "mnist", "alice")
		wantFail(t, "bob shares alice's project", r, "403", "owner")
		wantFail(t, "carol status of a project not shared with her", e.argus(t, carolEnv, "", "status", runID), "403")
	})

	step("unshare", func(t *testing.T) {
		r := e.argus(t, bobEnv, "", "unshare", "mnist", "bob")
		wantFail(t, "bob unshares alice's project", r, "403", "owner")

		r = e.argus(t, aliceEnv, "", "unshare", "mnist", "bob")
		wantOK(t, "alice unshares mnist", r)
		if r.Stdout != "project mnist is no longer shared with bob\n" {
			t.Fatalf("unshare output: %q", r.Stdout)
		}
		// Bob loses access at once.
		wantFail(t, "bob status after the unshare", e.argus(t, bobEnv, "", "status", runID), "403")
		r = e.argus(t, bobEnv, "", "batches")
		wantOK(t, "bob batches after the unshare", r)
		if strings.Contains(r.Stdout, batch.ID) {
			t.Fatalf("bob still sees alice's batch after the unshare:\n%s", r.Stdout)
		}

		r = e.argus(t, aliceEnv, "", "unshare", "mnist", "bob")
		wantFail(t, "a repeated unshare", r, "404", "not shared with bob")
		wantFail(t, "unshare of an unknown project", e.argus(t, aliceEnv, "", "unshare", "nope", "bob"), "404", "no project nope")
		wantFail(t, "unshare with an unknown user", e.argus(t, aliceEnv, "", "unshare", "mnist", "nobody"), "404", "no user nobody")
	})

	step("revoked token and missing URL", func(t *testing.T) {
		wantOK(t, "carol runs before revoke", e.argus(t, carolEnv, "", "runs"))
		rv, err := e.server.Admin(context.Background(), "", "token", "revoke", carol)
		if err != nil {
			t.Fatal(err)
		}
		wantOK(t, "token revoke", rv)
		r := e.argus(t, carolEnv, "", "runs")
		wantFail(t, "runs with a revoked token", r, "token rejected")
		if strings.Contains(r.Stderr, carol) {
			t.Fatalf("the error quotes the token: %q", r.Stderr)
		}
		// The others are unaffected.
		wantOK(t, "alice runs after carol's revoke", e.argus(t, aliceEnv, "", "runs"))

		noURL := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "ARGUS_TOKEN=" + alice}
		wantFail(t, "runs without ARGUS_URL", e.argus(t, noURL, "", "runs"), "ARGUS_URL")
	})
}

// hasRow reports whether a line of out holds all of cells as
// whitespace-separated fields, in that order.
func hasRow(out string, cells ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		fields, i := strings.Fields(line), 0
		for _, f := range fields {
			if i < len(cells) && f == cells[i] {
				i++
			}
		}
		if i == len(cells) {
			return true
		}
	}
	return false
}

// sameDir reports whether a and b name the same directory (a temp dir may
// sit behind a symlink, as /tmp does on macOS).
func sameDir(a, b string) bool {
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}
