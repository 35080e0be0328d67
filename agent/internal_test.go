package agent

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/api"
)

func TestRunEnvDropsTokensAndAddsIDsAndProperties(t *testing.T) {
	t.Setenv("PATH", "/agent/bin")
	env := runEnv(map[string]string{
		"ARGUS_TOKEN": "em_live_x", "argus_token": "y", "URL": "https://u:ag_live_abc@h", "LR": "0.1",
		"ARGUS_RUN_ID": "spoofed",
	}, "run_1", "bat_1", map[string]string{"gpu-type": "a100"})
	got := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	for _, k := range []string{"ARGUS_TOKEN", "argus_token", "URL"} {
		if _, ok := got[k]; ok {
			t.Errorf("run env keeps %s", k)
		}
	}
	want := map[string]string{"LR": "0.1", "ARGUS_RUN_ID": "run_1", "ARGUS_BATCH_ID": "bat_1",
		"ARGUS_PROP_GPU_TYPE": "a100", "PATH": "/agent/bin"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("run env %s = %q, want %q", k, got[k], v)
		}
	}
}

func TestLookPathUsesTheRecordedPATH(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("exec bits mean nothing on Windows")
	}
	dir := t.TempDir()
	tool := filepath.Join(dir, "train")
	if err := os.WriteFile(tool, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if p, err := lookPath("train", []string{"PATH=/nonexistent:" + dir}); err != nil || p != tool {
		t.Fatalf("lookPath = %q, %v", p, err)
	}
	if _, err := lookPath("train", []string{"PATH=/usr/bin"}); err == nil || !strings.Contains(err.Error(), "recorded PATH") {
		t.Fatalf("lookPath outside the recorded PATH: %v", err)
	}
	if p, _ := lookPath("./x.sh", nil); p != "./x.sh" {
		t.Fatalf("a path with a slash is kept as is: %q", p)
	}
}

func TestJournalRoundTripPrivacyAndCorruption(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "journal")
	j, err := openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec := Record{CmdID: "cmd_1", Kind: api.KindRerun, RunID: "run_1", State: stateRunning, PID: 42,
		Ack: &api.AckRequest{PID: 42}}
	if err := j.put(rec); err != nil {
		t.Fatal(err)
	}
	if err := j.put(Record{CmdID: "../escape"}); err == nil {
		t.Fatal("a command id with a path in it was journaled")
	}
	st, err := os.Stat(filepath.Join(dir, "cmd_1.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("journal file: %v, mode %v", err, st.Mode().Perm())
	}
	again, err := openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := again.runRecord("run_1")
	if !ok || got.PID != 42 || !got.pending() {
		t.Fatalf("reloaded record = %+v", got)
	}
	again.prune(-time.Hour) // pending: kept
	if _, ok := again.get("cmd_1"); !ok {
		t.Fatal("prune dropped a record the server has not heard about")
	}
	if err := os.WriteFile(filepath.Join(dir, "cmd_2.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openJournal(dir); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("corrupt record: %v", err)
	}
}

func TestBackoffIsCappedAndJittered(t *testing.T) {
	var d time.Duration
	seen := map[time.Duration]bool{}
	for i := 0; i < 50; i++ {
		d = nextBackoff(d)
		if d < 500*time.Millisecond || d > 30*time.Second {
			t.Fatalf("backoff %v outside [0.5s, 30s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Fatalf("backoff barely varies: %v", seen)
	}
}
