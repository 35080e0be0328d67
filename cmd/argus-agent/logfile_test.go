package main

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/argus-exec/argus/agent"
	"github.com/argus-exec/argus/internal/tempdir"
)

// --log-file takes the log off stderr (a Windows service has none) into a
// private file, appending, and still masks tokens.
func TestLogFile(t *testing.T) {
	cleanEnv(t)
	tok := userToken(t)
	path := filepath.Join(tempdir.New(t), "agent.log")
	if err := os.WriteFile(path, []byte("earlier line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &fake{do: func(_ context.Context, cfg agent.Config) {
		cfg.Logger.Info().Msg("hello from the agent " + tok)
	}}
	r := execute(f, "--log-file", path, "--log-format", "json")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("got %+v, want a clean run with nothing on stderr", r)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	log := string(data)
	if !strings.HasPrefix(log, "earlier line\n") || !strings.Contains(log, `"message":"hello from the agent em_live_[redacted]"`) || strings.Contains(log, tok) {
		t.Errorf("log file:\n%s", log)
	}
	if st, err := os.Stat(path); err != nil || (runtime.GOOS != "windows" && st.Mode().Perm() != 0o600) {
		t.Errorf("log file mode: %v %v", st.Mode(), err)
	}

	// A log file that cannot be opened is a one-line error before the agent runs.
	f = &fake{}
	checkOneLine(t, execute(f, "--log-file", filepath.Join(tempdir.New(t), "no", "such", "dir", "x.log")), 1, "--log-file")
	if f.runs != 0 {
		t.Error("the agent ran without its log file")
	}
}
