package main

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/argus-exec/argus/server/api"
)

var sgr = regexp.MustCompile("\x1b\\[[0-9;]*m")

// On a terminal the outcome column is coloured, failures red, and the
// table stays aligned exactly as without colour.
func TestRunsTableColoursOutcomes(t *testing.T) {
	l := &api.RunList{Runs: []api.Run{
		{ID: "r1", BatchID: "b1", Status: api.RunExited, ExitCode: intPtr(0)},
		{ID: "r2", BatchID: "b1", Status: api.RunExited, ExitCode: intPtr(3)},
		{ID: "r3", BatchID: "b1", Status: api.RunStopped, StoppedBy: "bob"},
		{ID: "r4", BatchID: "b1", Status: api.RunExpired},
	}}
	plain, plainOut := testPrinter(false)
	if err := plain.runs(l); err != nil {
		t.Fatal(err)
	}
	painted, out := testPrinter(false)
	painted.colour = true
	if err := painted.runs(l); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{sgrGreen + "exited 0" + sgrReset, sgrRed + "failed: exit 3" + sgrReset,
		sgrDefault + "stopped" + sgrReset, sgrRed + "expired" + sgrReset} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("coloured table lacks %q:\n%s", want, out)
		}
	}
	if got := sgr.ReplaceAllString(out.String(), ""); got != plainOut.String() {
		t.Fatalf("colour moved the columns:\n%s\nwant:\n%s", got, plainOut)
	}
}

func TestRunDetailNamesWhoAndWhy(t *testing.T) {
	r := &api.Run{ID: "r1", BatchID: "b1", Status: api.RunStopped, Signal: "SIGTERM",
		RequestedBy: "bob", StoppedBy: "carol", StopReason: "disk \x1b[2Jfull"}
	p, buf := testPrinter(false)
	if err := p.run(r, 0); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"outcome:       stopped\n", "requested by:  bob\n", "stopped by:    carol\n", "stop reason:   disk full\n"} {
		if !strings.Contains(buf.String(), want) {
			t.Fatalf("detail lacks %q:\n%s", want, buf)
		}
	}
}

// `argus status` says how the run went in its exit code, with or without
// --json, and nothing on stderr; 1 stays argus's own failure.
func TestStatusExitCodes(t *testing.T) {
	runs := map[string]api.Run{
		"queued":    {Status: api.RunQueued},
		"running":   {Status: api.RunRunning, PID: 7},
		"stopping":  {Status: api.RunStopping, PID: 7},
		"exited0":   {Status: api.RunExited, ExitCode: intPtr(0)},
		"exited3":   {Status: api.RunExited, ExitCode: intPtr(3)},
		"killed":    {Status: api.RunExited, Signal: "SIGKILL"},
		"nostart":   {Status: api.RunFailed, Error: "exec: not found"},
		"timedout":  {Status: api.RunStopped, Signal: "SIGTERM", StopReason: api.StopReasonTimeout},
		"cancelled": {Status: api.RunCancelled},
		"expired":   {Status: api.RunExpired},
		"stopped":   {Status: api.RunStopped, Signal: "SIGTERM", StoppedBy: "bob"},
		"unknown":   {Status: api.RunExited, ExitUnknown: true},
	}
	routes := map[string]http.HandlerFunc{}
	for id, r := range runs {
		r.ID, r.BatchID = id, "b1"
		routes["GET /api/runs/"+id] = replyWith(http.StatusOK, r)
	}
	srv := newFakeServer(t, routes)
	envTok(t)
	want := map[string]int{"queued": 0, "running": 0, "stopping": 0, "exited0": 0, "exited3": 3, "killed": 3,
		"nostart": 3, "timedout": 3, "cancelled": 4, "expired": 4, "stopped": 5, "unknown": 6}
	for id, code := range want {
		for _, args := range [][]string{{"status", id}, {"--json", "status", id}} {
			r := runCLI(t, append([]string{"--url", srv.URL}, args...)...)
			if r.Code != code || r.Stderr != "" || !strings.Contains(r.Stdout, id) {
				t.Errorf("%s: exit %d, stderr %q; want exit %d and the run on stdout", strings.Join(args, " "), r.Code, r.Stderr, code)
			}
		}
	}
	assertOneLineError(t, runCLI(t, "--url", srv.URL, "status", "nope"), "404")
}

func TestStopSendsTheReason(t *testing.T) {
	srv := newFakeServer(t, map[string]http.HandlerFunc{
		"POST /api/runs/r1/stop": replyWith(http.StatusAccepted, api.Queued{RunID: "r1", CmdID: "c1"}),
	})
	envTok(t)
	if r := runCLI(t, "--url", srv.URL, "stop", "r1", "--reason", "GPU needed ✓"); r.Code != 0 {
		t.Fatalf("stop --reason: %s", r)
	}
	if r := runCLI(t, "--url", srv.URL, "stop", "r1"); r.Code != 0 {
		t.Fatalf("stop: %s", r)
	}
	bodies := srv.requests("POST /api/runs/r1/stop")
	var with, without map[string]any
	if len(bodies) != 2 || json.Unmarshal([]byte(bodies[0]), &with) != nil || json.Unmarshal([]byte(bodies[1]), &without) != nil {
		t.Fatalf("stop bodies = %q", bodies)
	}
	if with["reason"] != "GPU needed ✓" || len(without) != 0 {
		t.Fatalf("stop bodies = %q; want the reason, then none", bodies)
	}
}

func TestColourOnlyOnATerminalWithoutNoColor(t *testing.T) {
	f, err := os.Open(os.DevNull) // a character device, not a terminal
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if wantColour(f) || wantColour(&strings.Builder{}) {
		t.Fatal("colour for /dev/null or a buffer")
	}
	tty := openTerminal(t)
	t.Setenv("NO_COLOR", "")
	t.Setenv("TERM", "xterm")
	if !wantColour(tty) {
		t.Error("no colour on a terminal")
	}
	t.Setenv("NO_COLOR", "1")
	if wantColour(tty) {
		t.Error("colour on a terminal with NO_COLOR=1")
	}
}
