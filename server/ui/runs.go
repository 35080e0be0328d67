package ui

import (
	"time"

	"github.com/argus-exec/argus/server/api"
)

// runRow is a run as the batch page shows it: its outcome in words and
// the verdict that colours it (api.Run.Outcome, the same judgement as the
// CLI's), and who stands behind it.
type runRow struct {
	api.Run
	Words   string      // "exited 0", "failed: exit 3", "stopped", …
	Verdict api.Verdict // CSS class verdict-…: a failure is red and says so
	Stop    string      // who asked for the stop and why; empty when nobody did
	// Duration is how long it has run (or ran), as of now; "—" before it
	// started.
	Duration string
}

func newRunRow(r api.Run, now time.Time) runRow {
	words, verdict := r.Outcome()
	return runRow{Run: r, Words: words, Verdict: verdict, Stop: stopText(r), Duration: elapsed(r, now)}
}

// stopText says who stopped the run and why: "stopped by bob — disk full",
// "stop asked by bob" while the stop is under way (or once it turned out
// the run had ended on its own), "stopped — timeout" for a system stop.
func stopText(r api.Run) string {
	if r.StoppedBy == "" && r.StopReason == "" {
		return ""
	}
	text := "stop asked"
	if r.Status == api.RunStopped {
		text = "stopped"
	}
	if r.StoppedBy != "" {
		text += " by " + r.StoppedBy
	}
	if r.StopReason != "" {
		text += " — " + r.StopReason
	}
	return text
}
