package main

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/api"
)

func testPrinter(jsonOut bool) (printer, *bytes.Buffer) {
	var buf bytes.Buffer
	return printer{w: &buf, json: jsonOut, loc: time.FixedZone("CET", 3600)}, &buf
}

func intPtr(i int) *int { return &i }

func TestRunsTable(t *testing.T) {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	end := start.Add(time.Hour)
	l := &api.RunList{Runs: []api.Run{
		{ID: "r1", BatchID: "b1", Status: api.RunExited, PID: 4242, ExitCode: intPtr(0), StartedAt: &start, EndedAt: &end, RequestedBy: "bob"},
		{ID: "r2", BatchID: "b1", Status: api.RunStopped, PID: 77, Signal: "SIGTERM", StartedAt: &start},
		{ID: "r3", BatchID: "b2", Status: api.RunQueued},
		{ID: "r4", BatchID: "b2", Status: api.RunExited, ExitUnknown: true},
	}}
	p, buf := testPrinter(false)
	if err := p.runs(l); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"RUN  BATCH  STATUS   OUTCOME              PID   BY   STARTED                  ENDED\n" +
		"r1   b1     exited   exited 0             4242  bob  2025-03-01 13:00:00 CET  2025-03-01 14:00:00 CET\n" +
		"r2   b1     stopped  stopped              77    -    2025-03-01 13:00:00 CET  -\n" +
		"r3   b2     queued   queued               -     -    -                        -\n" +
		"r4   b2     exited   ended, exit unknown  -     -    -                        -\n"
	if buf.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", buf, want)
	}
}

func TestJSONIsTheRawAPIStruct(t *testing.T) {
	in := &api.AgentList{Agents: []api.Agent{{ID: "a1", Hostname: "gpu-01", Online: true, CreatedAt: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}}}
	p, buf := testPrinter(true)
	if err := p.agents(in); err != nil {
		t.Fatal(err)
	}
	var out api.AgentList
	if err := json.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, buf)
	}
	if !reflect.DeepEqual(&out, in) {
		t.Fatalf("round trip = %+v, want %+v", out, in)
	}
}

func TestAgentsTable(t *testing.T) {
	seen := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	p, buf := testPrinter(false)
	err := p.agents(&api.AgentList{Agents: []api.Agent{
		{ID: "a1", Hostname: "gpu-01", Label: "night", Online: true, LastHeartbeat: &seen, Version: "1.0"},
		{ID: "a2", Hostname: "gpu-02"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := "" +
		"ID  HOST    LABEL  STATE    LAST HEARTBEAT           VERSION\n" +
		"a1  gpu-01  night  online   2025-03-01 13:00:00 CET  1.0\n" +
		"a2  gpu-02  -      offline  never                    -\n"
	if buf.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", buf, want)
	}
}

func TestBatchesTableQuotesCommandAndKeepsOneLine(t *testing.T) {
	p, buf := testPrinter(false)
	err := p.batches(&api.BatchList{Batches: []api.Batch{{
		ID: "b1", Project: "vision", Name: "train\tme", Owner: "alice",
		EnvSnapshot: api.EnvSnapshot{Host: "gpu-01", Command: api.CommandLine{Argv: []string{"python", "train.py", "--note", "it's big"}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want header + 1 row, got:\n%s", buf)
	}
	if !strings.Contains(lines[1], `python train.py --note 'it'\''s big'`) || !strings.Contains(lines[1], "train me") {
		t.Fatalf("row = %q", lines[1])
	}
}

func TestRunDetailShowsTail(t *testing.T) {
	r := &api.Run{
		ID: "r1", BatchID: "b1", AgentID: "a1", Status: api.RunStopped, PID: 4242,
		Signal: "SIGTERM", StopOutcome: api.StopTerminated,
		OutputTail: "line1\nline2\nline3\nline4\n",
	}
	p, buf := testPrinter(false)
	if err := p.run(r, 2); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"status:   stopped", "pid:      4242", "exit:     SIGTERM", "stop:     terminated", "output (last 2 lines):\nline3\nline4\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("detail lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "line2") {
		t.Fatalf("tail not cut to 2 lines:\n%s", out)
	}
}

func TestRunDetailStripsControls(t *testing.T) {
	r := &api.Run{
		ID: "r1", BatchID: "b1", Status: api.RunFailed,
		Error:      "bad\x1b]0;pwned\x07 thing\u009b",
		OutputTail: "\x1b[2Jhi\x07\n",
	}
	p, buf := testPrinter(false)
	if err := p.run(r, 0); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.HasSuffix(out, "output:\nhi\n") || !strings.Contains(out, "error:    bad thing\n") {
		t.Fatalf("detail:\n%q", out)
	}
	if strings.ContainsAny(out, "\x1b\x07\u009b") {
		t.Fatalf("control characters printed: %q", out)
	}

	// --json keeps the output as it is: the encoder escapes it.
	p, buf = testPrinter(true)
	if err := p.run(r, 0); err != nil {
		t.Fatal(err)
	}
	var back api.Run
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back.OutputTail != r.OutputTail {
		t.Fatalf("json tail = %q (%v)", back.OutputTail, err)
	}
}

// A run's output is bytes: the detail prints them from output_tail_b64
// (not the server's text, which could differ) with NUL and escapes
// stripped and a byte that is not UTF-8 as U+FFFD, a lone 0x9b included
// (CSI to an 8-bit terminal); --json keeps the bytes.
func TestRunDetailPrintsOutputBytes(t *testing.T) {
	out := []byte("a\x00b\xffc\x9b2J\x1b[2Jd\n")
	r := &api.Run{ID: "r1", BatchID: "b1", Status: api.RunExited, OutputTail: "server text", OutputTailB64: out}
	p, buf := testPrinter(false)
	if err := p.run(r, 0); err != nil {
		t.Fatal(err)
	}
	if want := "output:\nab\uFFFDc\uFFFD2Jd\n"; !strings.HasSuffix(buf.String(), want) {
		t.Fatalf("detail:\n%q\nwant it to end %q", buf.String(), want)
	}
	p, buf = testPrinter(true)
	if err := p.run(r, 0); err != nil {
		t.Fatal(err)
	}
	var back api.Run
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || !bytes.Equal(back.Output(), out) {
		t.Fatalf("json output = %q (%v), want %q", back.Output(), err, out)
	}
}

func TestStripControls(t *testing.T) {
	cases := []struct{ in, want string }{
		{"\x1b[2Jhi\x07\n", "hi\n"},
		{"plain\ttext\nline ünï ✓", "plain\ttext\nline ünï ✓"},
		{"\x1b[1;31mred\x1b[0m", "red"},
		{"\x1b[?1049h\x1b[38;5;196mX", "X"},
		{"a\x1b]0;title\x07b", "ab"},
		{"a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b", "alinkb"},
		{"a\x1bPq#0;2;0;0;0\x1b\\b", "ab"},
		{"a\x1b(Bb\x1bcc\x1b7d", "abcd"},
		{"progress\r10%\r20%\x08\x00\x7f", "progress10%20%"},
		{"c1\u0085\u009b31m\u009dend", "c131mend"},
		{"cut\x1b[31", "cut"},
		{"cut\x1b]0;never ended", "cut"},
		{"lone\x1b", "lone"},
		{"bad\xffbyte", "bad\ufffdbyte"},
	}
	for _, tc := range cases {
		if got := stripControls(tc.in); got != tc.want {
			t.Errorf("stripControls(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRunDetailSaysWhatTheRunLeftBehind(t *testing.T) {
	code := 0
	r := &api.Run{ID: "r1", BatchID: "b1", Status: api.RunExited, ExitCode: &code, LeftProcesses: 2}
	p, buf := testPrinter(false)
	if err := p.run(r, 0); err != nil {
		t.Fatal(err)
	}
	if want := "left behind:  2 processes, terminated when the main process ended"; !strings.Contains(buf.String(), want) {
		t.Fatalf("detail lacks %q:\n%s", want, buf.String())
	}
}
