package storetest

import (
	"strings"
	"testing"

	"github.com/argus-exec/argus/server/api"
)

// testOutputBytes: a run's output is stored and read back as the bytes the
// run wrote, whatever they are. PostgreSQL's TEXT refuses NUL and invalid
// UTF-8, so an engine that kept output as text fails here (it did: the
// report failed on every retry and the run stayed running).
func testOutputBytes(t *testing.T, f *fixture) {
	a, _, b := f.setup()
	every := make([]byte, 0, 512)
	for i := range 512 {
		every = append(every, byte(i))
	}
	long := strings.Repeat("\xff\x00", api.MaxOutputTail) // no rune to cut into
	for i, c := range []struct {
		name string
		rep  api.ExitReport
		want string
	}{
		{"NUL and invalid UTF-8 as bytes", api.ExitReport{OutputTailB64: []byte("a\x00b\xffc\n")}, "a\x00b\xffc\n"},
		{"every byte value", api.ExitReport{OutputTailB64: every}, string(every)},
		{"bytes win over text", api.ExitReport{OutputTail: "text", OutputTailB64: []byte("bytes\x00")}, "bytes\x00"},
		{"an older agent's text with NUL", api.ExitReport{OutputTail: "a\x00b\\x00 é"}, "a\x00b\\x00 é"},
		{"binary cut to the limit exactly", api.ExitReport{OutputTailB64: []byte(long)}, long[len(long)-api.MaxOutputTail:]},
	} {
		r := f.running(b, a, "r-"+string(rune('a'+i)), 1)
		c.rep.ExitCode, c.rep.EndedAt = ptr(0), t0
		got, err := f.s.ReportExit(f.ctx, a.ID, r.ID, c.rep)
		if err != nil {
			t.Errorf("%s: ReportExit: %v", c.name, err)
			continue
		}
		stored := f.run(r.ID)
		for what, run := range map[string]string{"returned": got.OutputTail, "stored": stored.OutputTail} {
			if run != c.want {
				t.Errorf("%s: %s output %q (%d bytes), want %q", c.name, what, abbrev(run), len(run), abbrev(c.want))
			}
		}
		if stored.Status != api.RunExited {
			t.Errorf("%s: status %s, want exited", c.name, stored.Status)
		}
	}
}

func abbrev(s string) string {
	if len(s) > 40 {
		return s[:20] + "…" + s[len(s)-20:]
	}
	return s
}
