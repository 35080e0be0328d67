//go:build linux

package agent_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store/postgres/pgtest"
)

// A run whose output holds NUL and a byte that is not UTF-8 ends exited
// with those bytes, on either store. On PostgreSQL the output was TEXT,
// which refuses both: the exit report failed on every retry and the run
// stayed running.
func TestOutputBytesEndExited(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		db   func(t testing.TB) string
	}{
		{"sqlite", func(testing.TB) string { return "" }}, // the default: a file
		{"postgres", pgtest.Schema},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// A PostgreSQL server wants a session key; any 32 characters do.
			spec := testenv.ServerSpec{DB: c.db(t), Args: []string{"--session-key", strings.Repeat("k", 32)}}
			e := newEnvSpec(t, spec)
			home := e.agentHome("")
			e.startAgent(home)
			id, _ := e.batch(`printf 'a\0b\377c\n'`)
			runID := e.rerun(id)
			r := e.waitEnded(runID, 20*time.Second)
			want := []byte("a\x00b\xffc\n")
			if r.Status != api.RunExited || r.ExitCode == nil || *r.ExitCode != 0 || !bytes.Equal(r.Output(), want) {
				t.Fatalf("run = %+v (output %q), want exited 0 with output %q", r, r.Output(), want)
			}
			if r.OutputTail != "a\x00b\uFFFDc\n" {
				t.Errorf("output_tail %q, want the text with U+FFFD for the byte that is not UTF-8", r.OutputTail)
			}
			// And the live log, as the exact bytes.
			l := &logReader{e: e, runID: runID}
			l.readUntil(20*time.Second, "the whole log", complete)
			if !bytes.Equal(l.data.Bytes(), want) {
				t.Errorf("log %q, want %q", l.data.Bytes(), want)
			}
			// Once delivered, the journal carries the output in neither form.
			waitFor(t, 10*time.Second, "the exit marked sent in the journal", func() bool {
				for _, rec := range journalRecords(t, home) {
					if rec["run_id"] == runID && rec["exit_sent"] == true {
						exit, _ := rec["exit"].(map[string]any)
						if _, ok := exit["output_tail_b64"]; ok || exit["output_tail"] != nil {
							t.Fatalf("journal keeps the output of a delivered exit: %v", exit)
						}
						return true
					}
				}
				return false
			})
		})
	}
}
