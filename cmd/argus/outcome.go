package main

import (
	"fmt"
	"io"
	"os"

	"github.com/mattn/go-isatty"

	"github.com/argus-exec/argus/server/api"
)

// How a run ended, for people and for scripts: the words and verdict come
// from api.Run.Outcome (the web UI judges runs by the same function), the
// colour marks them on a terminal, and `argus status` turns the verdict
// into its exit code.

// Exit codes of `argus status RUN` (README, "argus status exit codes").
// 1 stays what it is for every command: argus itself failed (usage,
// network, the server refused).
const (
	exitRunOK      = 0 // exited 0, or not over yet (queued, running, stopping)
	exitRunFailed  = 3 // non-zero exit, killed by a signal, failed to start, timed out
	exitRunNoRun   = 4 // never ran: cancelled or expired
	exitRunStopped = 5 // stopped because someone asked
	exitRunUnknown = 6 // ended, and nobody recorded how (api.ExitReport.Unknown)
)

// statusExitCode is the exit code `argus status` gives for r.
func statusExitCode(r *api.Run) int {
	_, verdict := r.Outcome()
	switch {
	case r.Status == api.RunCancelled || r.Status == api.RunExpired:
		return exitRunNoRun
	case verdict == api.VerdictFailed:
		return exitRunFailed
	case verdict == api.VerdictStopped:
		return exitRunStopped
	case verdict == api.VerdictUnknown:
		return exitRunUnknown
	}
	return exitRunOK
}

// quietExit ends argus with code and no message: the output already said
// what there is to say.
type quietExit struct{ code int }

func (e quietExit) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// SGR colours of one length each (ESC [ 3 x m), so that a column whose
// every cell is painted keeps its alignment under tabwriter, which counts
// the escape bytes as width.
const (
	sgrRed     = "\x1b[31m"
	sgrGreen   = "\x1b[32m"
	sgrYellow  = "\x1b[33m"
	sgrDefault = "\x1b[39m"
	sgrReset   = "\x1b[0m"
)

func verdictColour(v api.Verdict) string {
	switch v {
	case api.VerdictFailed:
		return sgrRed
	case api.VerdictOK:
		return sgrGreen
	case api.VerdictUnknown:
		return sgrYellow
	}
	return sgrDefault
}

// paint colours text when the printer colours at all; text must already
// be clean (cleanCell), since the escapes added here must survive.
func (p printer) paint(v api.Verdict, text string) string {
	if !p.colour {
		return text
	}
	return verdictColour(v) + text + sgrReset
}

// wantColour: only on a terminal, never with NO_COLOR set to anything
// (no-color.org) or on a dumb terminal.
func wantColour(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	// A character device is not enough: /dev/null is one.
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}
