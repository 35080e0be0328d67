package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/tempdir"
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

func TestJournalRoundTripPrivacyAndCorruption(t *testing.T) {
	dir := filepath.Join(tempdir.New(t), "journal")
	j, err := openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec := Record{CmdID: "cmd_1", Kind: api.KindRerun, RunID: "run_1", State: stateRunning, PID: 42,
		Ack: &api.AckRequest{PID: 42}}
	if err := j.create(rec); err != nil {
		t.Fatal(err)
	}
	if err := j.create(rec); err == nil {
		t.Fatal("a command was journaled twice")
	}
	if err := j.create(Record{CmdID: "../escape"}); err == nil {
		t.Fatal("a command id with a path in it was journaled")
	}
	st, err := os.Stat(filepath.Join(dir, "cmd_1.json"))
	if err != nil {
		t.Fatalf("journal file: %v", err)
	}
	// Windows has no Unix modes (the profile's ACL protects the journal).
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Fatalf("journal file mode %v, want 0600", st.Mode().Perm())
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
		d = nextBackoff(d, 30*time.Second)
		if d < 500*time.Millisecond || d > 30*time.Second {
			t.Fatalf("backoff %v outside [0.5s, 30s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Fatalf("backoff barely varies: %v", seen)
	}
	// A lower cap (--max-backoff, for tests) holds from the first retry,
	// below a second too.
	for _, ceiling := range []time.Duration{time.Second, 200 * time.Millisecond} {
		d = 0
		for i := 0; i < 20; i++ {
			d = nextBackoff(d, ceiling)
			if d < ceiling/2 || d > ceiling {
				t.Fatalf("backoff %v outside [%v, %v]", d, ceiling/2, ceiling)
			}
		}
	}
}

// Two updates of one record at once (the outbox marking the ack sent while
// the run's exit is recorded) must both survive.
func TestJournalConcurrentUpdatesLoseNothing(t *testing.T) {
	j, err := openJournal(filepath.Join(tempdir.New(t), "journal"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		id := fmt.Sprintf("cmd_%d", i)
		if err := j.create(Record{CmdID: id, Kind: api.KindRerun, Ack: &api.AckRequest{PID: 1}}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); j.update(id, func(r *Record) { r.AckSent = true }) }()
		go func() { defer wg.Done(); j.update(id, func(r *Record) { r.Exit = &api.ExitReport{Unknown: true} }) }()
		wg.Wait()
		if r, _ := j.get(id); !r.AckSent || r.Exit == nil {
			t.Fatalf("round %d: an update was lost: %+v", i, r)
		}
	}
	reloaded, err := openJournal(j.dir)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := reloaded.get("cmd_49"); !r.AckSent || r.Exit == nil {
		t.Fatalf("on disk an update was lost: %+v", r)
	}
}

// hasKey folds only when asked: Windows keys (Path, PATH) are one, Unix
// keys are not.
func TestHasKeyFoldsOnlyWhenAsked(t *testing.T) {
	m := map[string]string{"Path": `C:\w`}
	if hasKey(m, "PATH", false) || !hasKey(m, "PATH", true) || !hasKey(m, "Path", false) {
		t.Fatal("hasKey folds wrongly")
	}
}

// A record taken back (a rerun the server said not to start, or could not
// be asked about) is gone from memory and disk, does not come back when
// the journal is opened again, and the command can be journaled anew.
func TestJournalRemoveForgetsARecordForGood(t *testing.T) {
	dir := filepath.Join(tempdir.New(t), "journal")
	j, err := openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec := Record{CmdID: "cmd_1", Kind: api.KindRerun, RunID: "run_1", State: stateStarting}
	if err := j.create(rec); err != nil {
		t.Fatal(err)
	}
	if err := j.create(Record{CmdID: "cmd_2", Kind: api.KindRerun, RunID: "run_2", State: stateStarting}); err != nil {
		t.Fatal(err)
	}
	if err := j.remove("cmd_1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := j.get("cmd_1"); ok {
		t.Fatal("a removed record is still in memory")
	}
	if _, ok := j.runRecord("run_1"); ok {
		t.Fatal("a removed record still names its run")
	}
	if _, err := os.Stat(filepath.Join(dir, "cmd_1.json")); !os.IsNotExist(err) {
		t.Fatalf("a removed record's file: %v", err)
	}
	if err := j.remove("cmd_1"); err != nil {
		t.Fatalf("removing a record twice: %v", err)
	}
	if err := j.remove("../escape"); err == nil {
		t.Fatal("a command id with a path in it was accepted")
	}
	again, err := openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := again.get("cmd_1"); ok {
		t.Fatal("a removed record came back on reopening")
	}
	if _, ok := again.get("cmd_2"); !ok {
		t.Fatal("removing one record lost another")
	}
	if err := again.create(rec); err != nil {
		t.Fatalf("journaling a removed command again: %v", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 2 {
		t.Fatalf("journal directory holds %d entries, want 2", len(ents))
	}
}

// An older server has no start route: Go's router answers 404 in plain
// text, and the agent starts the run as before. A current server's JSON
// 404 (an unknown command) must never start it.
func TestNoStartStepOnlyForARouteTheServerLacks(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"router 404", &client.APIError{StatusCode: 404, Message: "404 page not found"}, true},
		{"argus 404", &client.APIError{StatusCode: 404, Message: "command not found", FromArgus: true}, false},
		{"wrapped router 404", fmt.Errorf("start: %w", &client.APIError{StatusCode: 404}), true},
		{"409", &client.APIError{StatusCode: 409, FromArgus: true}, false},
		{"network", errors.New("connection refused"), false},
	} {
		if got := noStartStep(c.err); got != c.want {
			t.Errorf("%s: noStartStep = %v, want %v", c.name, got, c.want)
		}
	}
}
