package main

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/argus-exec/argus/token"
	"github.com/rs/zerolog"
)

// newLogger builds the agent's logger on w (stderr): console lines on a
// terminal and JSON otherwise with format auto, or as asked. Everything
// goes through redactWriter, so a token that slipped into a log event
// still never reaches the log.
func newLogger(levelName, format string, w io.Writer) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(levelName)
	if err != nil || levelName == "" {
		return zerolog.Logger{}, fmt.Errorf("--log-level %q: use debug, info, warn or error", levelName)
	}
	terminal := false
	if f, ok := w.(*os.File); ok {
		terminal = isTerminal(f)
	}
	var out io.Writer = redactWriter{w}
	switch format {
	case "json":
	case "console":
		out = zerolog.ConsoleWriter{Out: out, NoColor: !terminal}
	case "auto":
		if terminal {
			out = zerolog.ConsoleWriter{Out: out}
		}
	default:
		return zerolog.Logger{}, fmt.Errorf("--log-format %q: use console, json or auto", format)
	}
	return zerolog.New(out).Level(level).With().Timestamp().Logger(), nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// redactWriter masks token-shaped text in what it writes. zerolog writes
// each event in one call, so a token is never split across two writes.
type redactWriter struct{ w io.Writer }

func (r redactWriter) Write(p []byte) (int, error) {
	if !bytes.Contains(p, []byte("_live_")) {
		return r.w.Write(p)
	}
	if _, err := io.WriteString(r.w, token.Redact(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
