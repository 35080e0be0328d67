package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/token"
)

func recordServer(t *testing.T, code int) *fakeServer {
	t.Helper()
	return newFakeServer(t, map[string]http.HandlerFunc{
		"POST /api/batches": replyWith(code, api.Created{ID: "b-42"}),
	})
}

func TestRecordRecordsThenPassesExitCode(t *testing.T) {
	leak, _ := token.New(token.User)
	t.Setenv("ARGUS_CLI_HELPER", "exit:7")
	t.Setenv("MY_API_KEY", "hunter2")
	t.Setenv("HARMLESS_LOOKING", "x"+leak)
	t.Setenv("CUDA_VISIBLE_DEVICES", "0,1")
	srv := recordServer(t, http.StatusCreated)
	tok := envTok(t)

	r := runCLI(t, "--url", srv.URL, "record", "--project", "vision", "--", os.Args[0], "--lr", "3e-4")
	if r.Code != 7 {
		t.Fatalf("exit code = %d, want the child's 7 (%+v)", r.Code, r)
	}
	if !strings.Contains(r.Stdout, "hello from child") {
		t.Fatalf("child's stdout not passed through: %q", r.Stdout)
	}
	// The test's own environment may hold credentials too (a CI's
	// GITHUB_TOKEN), so the line is checked for these names, not equality.
	lines := strings.Split(r.Stderr, "\n")
	if len(lines) != 3 || lines[0] != "argus: recorded batch b-42" || lines[2] != "" ||
		!strings.HasPrefix(lines[1], "argus: not recorded (look like credentials): ") ||
		!strings.HasSuffix(lines[1], "; keep one with --keep-env NAME") {
		t.Fatalf("stderr = %q", r.Stderr)
	}
	for _, name := range []string{"HARMLESS_LOOKING", "MY_API_KEY"} {
		if !strings.Contains(lines[1], " "+name) {
			t.Fatalf("stderr does not name %s: %q", name, r.Stderr)
		}
	}
	for _, s := range []string{"ARGUS_TOKEN", "hunter2", leak, tok, "CUDA_VISIBLE_DEVICES"} {
		if strings.Contains(r.Stderr, s) {
			t.Fatalf("stderr mentions %q: %q", s, r.Stderr)
		}
	}

	bodies := srv.requests("POST /api/batches")
	if len(bodies) != 1 {
		t.Fatalf("batches recorded: %d", len(bodies))
	}
	for _, secret := range []string{tok, leak, "hunter2", "MY_API_KEY", "ARGUS_TOKEN"} {
		if strings.Contains(bodies[0], secret) {
			t.Fatalf("recorded body contains %q", secret)
		}
	}
	var req api.CreateBatchRequest
	if err := json.Unmarshal([]byte(bodies[0]), &req); err != nil {
		t.Fatal(err)
	}
	cwd, _ := os.Getwd()
	host, _ := os.Hostname()
	snap := req.EnvSnapshot
	wantArgv := []string{os.Args[0], "--lr", "3e-4"}
	if req.Project != "vision" || strings.Join(snap.Command.Argv, " ") != strings.Join(wantArgv, " ") ||
		snap.Cwd != cwd || snap.Host != host || snap.Env["CUDA_VISIBLE_DEVICES"] != "0,1" {
		t.Fatalf("recorded %+v", req)
	}
	if req.Name != filepath.Base(os.Args[0]) {
		t.Fatalf("default name = %q, want the command's basename", req.Name)
	}
}

func TestRecordFailsFastWithoutRunning(t *testing.T) {
	t.Setenv("ARGUS_CLI_HELPER", "exit:0")
	srv := recordServer(t, http.StatusInternalServerError)
	envTok(t)
	r := runCLI(t, "--url", srv.URL, "record", "--", os.Args[0])
	assertOneLineError(t, r, "record batch: POST /api/batches: 500")
	if strings.Contains(r.Stdout, "hello from child") {
		t.Fatal("the command ran although recording failed")
	}
}

func TestRecordKeepEnv(t *testing.T) {
	t.Setenv("ARGUS_CLI_HELPER", "exit:0")
	t.Setenv("MY_API_KEY", "hunter2")
	t.Setenv("OTHER_SECRET", "s3")
	srv := recordServer(t, http.StatusCreated)
	envTok(t)
	r := runCLI(t, "--url", srv.URL, "record", "--keep-env", "MY_API_KEY", "--keep-env", "ARGUS_TOKEN", "--", os.Args[0])
	if r.Code != 0 {
		t.Fatalf("record: %+v", r)
	}
	var req api.CreateBatchRequest
	if err := json.Unmarshal([]byte(srv.requests("POST /api/batches")[0]), &req); err != nil {
		t.Fatal(err)
	}
	if req.EnvSnapshot.Env["MY_API_KEY"] != "hunter2" {
		t.Fatalf("--keep-env MY_API_KEY did not keep it: %v", req.EnvSnapshot.Env)
	}
	if _, ok := req.EnvSnapshot.Env["OTHER_SECRET"]; ok {
		t.Fatal("OTHER_SECRET recorded without --keep-env")
	}
	if _, ok := req.EnvSnapshot.Env["ARGUS_TOKEN"]; ok {
		t.Fatal("--keep-env ARGUS_TOKEN recorded the token")
	}
	want := "argus: --keep-env ARGUS_TOKEN: an Argus token is never recorded (the server refuses it); pass it to the run another way\n"
	if !strings.Contains(r.Stderr, want) || !strings.Contains(r.Stderr, " OTHER_SECRET") || strings.Contains(r.Stderr, "MY_API_KEY") {
		t.Fatalf("stderr = %q", r.Stderr)
	}
}

func TestRecordUnknownCommandRecordsNothing(t *testing.T) {
	srv := recordServer(t, http.StatusCreated)
	envTok(t)
	r := runCLI(t, "--url", srv.URL, "record", "--", "argus-no-such-command-here")
	assertOneLineError(t, r, "argus-no-such-command-here")
	if n := len(srv.requests("POST /api/batches")); n != 0 {
		t.Fatalf("recorded %d batches for a command that cannot start", n)
	}
}

func TestRecordSignalExitCode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no signals on windows")
	}
	t.Setenv("ARGUS_CLI_HELPER", "kill")
	srv := recordServer(t, http.StatusCreated)
	envTok(t)
	r := runCLI(t, "--url", srv.URL, "record", "--", os.Args[0])
	if r.Code != 128+9 {
		t.Fatalf("exit code = %d, want 137 for SIGKILL (%+v)", r.Code, r)
	}
}

func TestRecordChildDoesNotSeeTokens(t *testing.T) {
	tok := envTok(t)
	agentLeak, _ := token.New(token.Agent)
	t.Setenv("ARGUS_CLI_HELPER", "env")
	t.Setenv("WANDB_NOTES", "run with "+agentLeak)
	t.Setenv("OLD_COPY", tok)
	t.Setenv("CUDA_VISIBLE_DEVICES", "0,1")
	t.Setenv("ARGUS_URL_NOTE", "kept")
	srv := recordServer(t, http.StatusCreated)

	r := runCLI(t, "--url", srv.URL, "record", "--", os.Args[0])
	if r.Code != 0 {
		t.Fatalf("record: %+v", r)
	}
	for _, want := range []string{"env: CUDA_VISIBLE_DEVICES=0,1", "env: ARGUS_URL_NOTE=kept", "env: ARGUS_CLI_HELPER=env"} {
		if !strings.Contains(r.Stdout, want+"\n") {
			t.Fatalf("child's environment lacks %q:\n%s", want, r.Stdout)
		}
	}
	for _, leak := range []string{"ARGUS_TOKEN", "WANDB_NOTES", "OLD_COPY", tok, agentLeak, "em_live_", "ag_live_"} {
		if strings.Contains(r.Stdout, leak) {
			t.Fatalf("child's environment contains %q", leak)
		}
	}
}

func TestChildEnv(t *testing.T) {
	in := []string{
		"PATH=/bin", "ARGUS_TOKEN=x", "argus_token=y", "A=em_live_z", "B=pre ag_live_z",
		"ARGUS_URL=https://h", "EMPTY=", "=C:=C:\\dir",
	}
	want := []string{"PATH=/bin", "ARGUS_URL=https://h", "EMPTY=", "=C:=C:\\dir"}
	if got := childEnv(in); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("childEnv = %q, want %q", got, want)
	}
}

func TestRecordNoRunRecordsWithoutRunning(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	srv := recordServer(t, http.StatusCreated)
	envTok(t)
	r := runCLI(t, "--url", srv.URL, "record", "--no-run", "--", "/bin/sh", "-c", "touch "+marker)
	if r.Code != 0 || r.Stdout != "b-42\n" || len(srv.requests("POST /api/batches")) != 1 {
		t.Fatalf("record --no-run = %+v", r)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("record --no-run ran the command")
	}
}
