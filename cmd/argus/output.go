package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/argus-exec/argus/server/api"
)

// printer writes results as aligned tables for people, or as the raw API
// structs in JSON (--json) for scripts.
type printer struct {
	w      io.Writer
	json   bool
	loc    *time.Location // times are shown in the user's zone (--utc: UTC), with the zone
	colour bool           // mark outcomes in colour (outcome.go: a terminal, no NO_COLOR)
}

func newPrinter(c *cli.Context) printer {
	loc := time.Local
	if c.Bool(flagUTC) {
		loc = time.UTC
	}
	return printer{w: c.App.Writer, json: c.Bool(flagJSON), loc: loc, colour: wantColour(c.App.Writer)}
}

func (p printer) printJSON(v any) error {
	enc := json.NewEncoder(p.w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints rows under a header, columns aligned.
func (p printer) table(header []string, rows [][]string) error {
	return p.paintedTable(header, rows, nil)
}

// paintedTable is table with each cleaned cell of a body row passed
// through paint (when not nil), which may colour it; the header is passed
// with row -1, so a painted column is painted whole and stays aligned.
func (p printer) paintedTable(header []string, rows [][]string, paint func(row, col int, cell string) string) error {
	if paint == nil {
		paint = func(_, _ int, cell string) string { return cell }
	}
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
	line := func(row int, cells []string) {
		out := make([]string, len(cells))
		for i, cell := range cells {
			out[i] = paint(row, i, cleanCell(cell))
		}
		fmt.Fprintln(tw, strings.Join(out, "\t"))
	}
	line(-1, header)
	for i, row := range rows {
		line(i, row)
	}
	return tw.Flush()
}

func (p printer) batches(l *api.BatchList) error {
	if p.json {
		return p.printJSON(l)
	}
	rows := make([][]string, 0, len(l.Batches))
	for _, b := range l.Batches {
		rows = append(rows, []string{
			b.ID, b.Project, b.Name, b.Owner, b.EnvSnapshot.Host,
			p.time(&b.CreatedAt), truncate(b.EnvSnapshot.Command.ShellText(), 60),
		})
	}
	return p.table([]string{"ID", "PROJECT", "NAME", "OWNER", "HOST", "CREATED", "COMMAND"}, rows)
}

func (p printer) runs(l *api.RunList) error {
	if p.json {
		return p.printJSON(l)
	}
	rows := make([][]string, 0, len(l.Runs))
	verdicts := make([]api.Verdict, 0, len(l.Runs))
	for _, r := range l.Runs {
		words, verdict := r.Outcome()
		verdicts = append(verdicts, verdict)
		rows = append(rows, []string{
			r.ID, r.BatchID, withWaiting(string(r.Status), r), words, pidText(r.PID), dash(r.RequestedBy), p.time(r.StartedAt), p.time(r.EndedAt),
		})
	}
	const outcomeCol = 3
	return p.paintedTable([]string{"RUN", "BATCH", "STATUS", "OUTCOME", "PID", "BY", "STARTED", "ENDED"}, rows,
		func(row, col int, cell string) string {
			switch {
			case col != outcomeCol:
				return cell
			case row < 0:
				return p.paint(api.VerdictActive, cell) // the same escape length as the cells below
			}
			return p.paint(verdicts[row], cell)
		})
}

func (p printer) agents(l *api.AgentList) error {
	if p.json {
		return p.printJSON(l)
	}
	rows := make([][]string, 0, len(l.Agents))
	for _, a := range l.Agents {
		online := "offline"
		if a.Online {
			online = "online"
		}
		seen := "never"
		if a.LastHeartbeat != nil {
			seen = p.time(a.LastHeartbeat)
		}
		rows = append(rows, []string{a.ID, a.Hostname, dash(a.Label), online, seen, dash(a.Version)})
	}
	return p.table([]string{"ID", "HOST", "LABEL", "STATE", "LAST HEARTBEAT", "VERSION"}, rows)
}

func (p printer) queued(q *api.Queued) error {
	if p.json {
		return p.printJSON(q)
	}
	return p.table([]string{"RUN", "CMD"}, [][]string{{q.RunID, q.CmdID}})
}

func (p printer) project(pr *api.Project) error {
	if p.json {
		return p.printJSON(pr)
	}
	_, err := fmt.Fprintf(p.w, "project %s (owner %s) is shared with: %s\n",
		cleanCell(pr.Name), cleanCell(pr.Owner), cleanCell(dash(strings.Join(pr.Recipients, ", "))))
	return err
}

// unshared confirms an unshare; the server answers it without a body, so
// --json prints nothing and the exit code tells.
func (p printer) unshared(project, user string) error {
	if p.json {
		return nil
	}
	_, err := fmt.Fprintf(p.w, "project %s is no longer shared with %s\n", cleanCell(project), cleanCell(user))
	return err
}

// run shows one run in detail, then the last tailLines lines of its output
// (all of it when tailLines <= 0).
func (p printer) run(r *api.Run, tailLines int) error {
	if p.json {
		return p.printJSON(r)
	}
	_, verdict := r.Outcome()
	rows := p.runFacts(r)
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
	for _, row := range rows {
		value := cleanCell(row[1])
		if row[0] == "outcome" {
			value = p.paint(verdict, value) // the line's last cell: alignment is not at stake
		}
		fmt.Fprintf(tw, "%s:\t%s\n", row[0], value)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return p.tail(string(r.Output()), tailLines)
}

// runFacts are the label/value lines of a run's detail; empty optional
// ones are left out.
func (p printer) runFacts(r *api.Run) [][]string {
	words, _ := r.Outcome()
	rows := [][]string{
		{"run", r.ID}, {"batch", r.BatchID}, {"agent", dash(r.AgentID)},
		{"status", string(r.Status)}, {"outcome", words}, {"pid", pidText(r.PID)},
		{"exit", exitText(r)},
	}
	for _, opt := range [][]string{
		{"error", r.Error}, {"requested by", r.RequestedBy}, {"stopped by", r.StoppedBy},
		{"stop reason", r.StopReason}, {"stop", r.StopOutcome}, {"timeout", r.Timeout},
		{"waiting", r.WaitingReason},
	} {
		if opt[1] != "" {
			rows = append(rows, opt)
		}
	}
	if r.LeftProcesses > 0 {
		rows = append(rows, []string{"left behind", leftText(r.LeftProcesses)})
	}
	if r.ExpiresAt != nil {
		rows = append(rows, []string{"expires", p.time(r.ExpiresAt)})
	}
	return append(rows,
		[]string{"created", p.time(&r.CreatedAt)},
		[]string{"started", p.time(r.StartedAt)},
		[]string{"ended", p.time(r.EndedAt)},
	)
}

// leftText says what the agent did about the processes a run left alive
// when its main process ended.
func leftText(n int) string {
	if n == 1 {
		return "1 process, terminated when the main process ended"
	}
	return fmt.Sprintf("%d processes, terminated when the main process ended", n)
}

// tail prints a run's output. The output is whatever the run wrote (any
// bytes), so it is stripped of terminal control sequences first, NUL
// included, and a byte that is not UTF-8 becomes U+FFFD (a lone 0x9b is
// CSI to an 8-bit terminal): a job must not be able to clear, retitle or
// otherwise drive the terminal of whoever looks at it. --json has the
// exact bytes.
func (p printer) tail(out string, lines int) error {
	out = strings.TrimRight(stripControls(out), "\n")
	if out == "" {
		return nil
	}
	all := strings.Split(out, "\n")
	head := "output:"
	if lines > 0 && len(all) > lines {
		all = all[len(all)-lines:]
		head = fmt.Sprintf("output (last %d lines):", lines)
	}
	_, err := fmt.Fprintf(p.w, "%s\n%s\n", head, strings.Join(all, "\n"))
	return err
}

func (p printer) time(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	// The zone is part of the time: a run started "10:02" on a shared
	// host is ambiguous without it. The UI shows the same form.
	return t.In(p.loc).Format(api.TimeLayout)
}

// withWaiting adds why a queued run waits to its status cell:
// "queued (waiting: host busy (2/2 runs))".
func withWaiting(status string, r api.Run) string {
	if r.WaitingReason == "" {
		return status
	}
	return status + " (waiting: " + r.WaitingReason + ")"
}

func pidText(pid int) string {
	if pid == 0 {
		return "-"
	}
	return strconv.Itoa(pid)
}

// exitText is the exit code, the killing signal, or why neither is known.
func exitText(r *api.Run) string {
	switch {
	case r.ExitCode != nil:
		return strconv.Itoa(*r.ExitCode)
	case r.Signal != "":
		return r.Signal
	case r.ExitUnknown:
		return "unknown"
	}
	return "-"
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// cleanCell keeps a value on one line so it cannot break a table's layout,
// and strips terminal control sequences: values come from the server and,
// through recorded batches, from other users.
func cleanCell(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' {
			return ' '
		}
		return r
	}, stripControls(s))
}

// stripControls removes what a terminal would act on rather than show:
// escape sequences (CSI, OSC and other strings, two-byte escapes), C0
// controls other than newline and tab, DEL, and C1 controls.
func stripControls(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == 0x1b:
			i += escapeLen(s[i:])
			continue
		case r == '\n' || r == '\t':
		case r < 0x20 || r == 0x7f || 0x80 <= r && r <= 0x9f:
			i += size
			continue
		}
		b.WriteRune(r) // an invalid byte becomes U+FFFD
		i += size
	}
	return b.String()
}

// escapeLen is the length of the escape sequence at the start of s, which
// begins with ESC. A sequence cut short ends where the input does.
func escapeLen(s string) int {
	if len(s) < 2 {
		return len(s)
	}
	switch c := s[1]; {
	case c == '[': // CSI: parameters, intermediates, one final byte
		j := 2
		for j < len(s) && 0x20 <= s[j] && s[j] <= 0x3f {
			j++
		}
		if j < len(s) && 0x40 <= s[j] && s[j] <= 0x7e {
			j++
		}
		return j
	case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
		// OSC, DCS, SOS, PM, APC: a string ended by BEL or ESC \.
		for j := 2; j < len(s); j++ {
			if s[j] == 0x07 {
				return j + 1
			}
			if s[j] == 0x1b {
				if j+1 < len(s) && s[j+1] == '\\' {
					return j + 2
				}
				return j // a new sequence starts here
			}
		}
		return len(s)
	case 0x20 <= c && c <= 0x2f: // intermediates, then one final byte
		j := 2
		for j < len(s) && 0x20 <= s[j] && s[j] <= 0x2f {
			j++
		}
		if j < len(s) && 0x30 <= s[j] && s[j] <= 0x7e {
			j++
		}
		return j
	case 0x30 <= c && c <= 0x7e: // two-byte escape, e.g. ESC c (reset)
		return 2
	}
	return 1
}
