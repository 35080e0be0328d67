package proc

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

// These test the decisions behind Windows process control on the machine
// the tests run on; the Windows calls around them are only cross-compiled.

func TestJobNameIsOneLocalObjectPerRun(t *testing.T) {
	if got := jobName("run_01HZX"); got != `Local\argus-run-run_01HZX` {
		t.Fatalf("jobName = %q", got)
	}
	// A backslash past the namespace would name a directory that does not
	// exist; odd ids are hex-encoded like their log file names.
	for _, id := range []string{`a\b`, "a/b", "x y", strings.Repeat("r", 150), ""} {
		name := jobName(id)
		if strings.Count(name, `\`) != 1 || !strings.HasPrefix(name, `Local\argus-run-`) {
			t.Errorf("jobName(%q) = %q", id, name)
		}
	}
	if jobName("run_1") == jobName("run_2") || jobName(`a\b`) == jobName("a/b") {
		t.Fatal("two runs share a job name")
	}
	// Pinned: a restarted (or upgraded) agent opens the jobs of runs an
	// earlier agent started by these names, and run logs use the same rule.
	if got := jobName(`a\b`); got != `Local\argus-run-run-615c62` {
		t.Fatalf("jobName(a\\b) = %q: the encoding of odd run ids changed", got)
	}
}

func TestRunCreationFlags(t *testing.T) {
	const base = winCreateNewProcessGroup | winCreateNoWindow
	cases := []struct {
		name   string
		inJob  bool
		limits uint32
		want   uint32
	}{
		{"agent in no job", false, 0, base},
		{"limits of no job are ignored", false, winLimitBreakawayOK, base},
		{"agent's job allows breakaway: the run leaves it", true, winLimitBreakawayOK, base | winCreateBreakawayFromJob},
		{"agent's job lets children out silently", true, winLimitSilentBreakawayOK, base},
		{"both allowed: silent wins, no flag needed", true, winLimitBreakawayOK | winLimitSilentBreakawayOK, base},
		// Asking would make CreateProcess fail with access denied.
		{"agent's job forbids breakaway", true, 0x2000 /* KILL_ON_JOB_CLOSE */, base},
	}
	for _, c := range cases {
		if got := runCreationFlags(c.inJob, c.limits); got != c.want {
			t.Errorf("%s: flags %#x, want %#x", c.name, got, c.want)
		}
	}
}

// A supervisor has no console at all and leaves the agent's job exactly
// when a run would.
func TestDetachedCreationFlags(t *testing.T) {
	const base = winDetachedProcess | winCreateNewProcessGroup
	if got := detachedCreationFlags(false, 0); got != base {
		t.Errorf("agent in no job: %#x, want %#x", got, base)
	}
	if got := detachedCreationFlags(true, winLimitBreakawayOK); got != base|winCreateBreakawayFromJob {
		t.Errorf("job allows breakaway: %#x, want %#x", got, base|winCreateBreakawayFromJob)
	}
	if got := detachedCreationFlags(true, 0x2000); got != base {
		t.Errorf("job forbids breakaway: %#x, want %#x", got, base)
	}
}

func TestCtrlBreakGroupOnlyForAProvenLeader(t *testing.T) {
	if g, ok := ctrlBreakGroup(4242, true); !ok || g != 4242 {
		t.Fatalf("proven leader: group %d, %v", g, ok)
	}
	tooBig := int64(math.MaxUint32) + 1
	refused := []struct {
		pid int
		is  bool
	}{
		{4242, false},       // PID maybe reused: never signalled
		{0, true},           // group 0 is every process on the console
		{-1, true},          // no such PID
		{int(tooBig), true}, // not a Windows PID
	}
	for _, r := range refused {
		if g, ok := ctrlBreakGroup(r.pid, r.is); ok {
			t.Errorf("ctrlBreakGroup(%d, %v) = %d, want refused", r.pid, r.is, g)
		}
	}
}

func TestParseBreakTarget(t *testing.T) {
	if g, ok := parseBreakTarget("4242"); !ok || g != 4242 {
		t.Fatalf("parseBreakTarget(4242) = %d, %v", g, ok)
	}
	for _, v := range []string{"", "0", "-1", "4294967296", "12a", " 12"} {
		if g, ok := parseBreakTarget(v); ok {
			t.Errorf("parseBreakTarget(%q) = %d, want refused", v, g)
		}
	}
}

func TestFiletimeTicks(t *testing.T) {
	if got := filetimeTicks(0x89ABCDEF, 0x01234567); got != 0x0123456789ABCDEF {
		t.Fatalf("filetimeTicks = %#x", got)
	}
	// A later creation time is larger even when the low word wraps.
	if !(filetimeTicks(0xFFFFFFFF, 7) < filetimeTicks(0, 8)) {
		t.Fatal("a carry into the high word orders wrongly")
	}
}

func TestWindowsExit(t *testing.T) {
	for _, c := range []struct {
		code   uint32
		signal string
	}{
		{0, ""}, {1, ""}, {0xC0000005, ""}, // an access violation is the run's own exit
		{winStatusControlCExit, "CTRL_BREAK"},
		{jobKillExitCode, "JOB_TERMINATED"},
	} {
		code, sig := windowsExit(c.code)
		switch {
		case c.signal != "" && (code != nil || sig != c.signal):
			t.Errorf("windowsExit(%#x) = %v, %q; want signal %s", c.code, code, sig, c.signal)
		case c.signal == "" && (code == nil || *code != int(c.code) || sig != ""):
			t.Errorf("windowsExit(%#x) = %v, %q; want code %d", c.code, code, sig, c.code)
		}
	}
}

// cmd.exe /s /c strips the outer quotes only: the recorded string, quotes
// and all, is what runs.
func TestWindowsShellKeepsTheRecordedStringVerbatim(t *testing.T) {
	comspec := `C:\Windows\System32\cmd.exe`
	shell := `python -c "print('a b')" > "out dir\log.txt"`
	argv, line := windowsShell(comspec, shell)
	if want := []string{comspec, "/d", "/s", "/c", shell}; !reflect.DeepEqual(argv, want) {
		t.Fatalf("argv = %q", argv)
	}
	if want := `"C:\Windows\System32\cmd.exe" /d /s /c "` + shell + `"`; line != want {
		t.Fatalf("command line = %s\nwant %s", line, want)
	}
}

func TestWindowsExeCandidates(t *testing.T) {
	cases := []struct {
		path, pathExt string
		want          []string
	}{
		{"bin/python", "", []string{"bin/python.COM", "bin/python.EXE", "bin/python.BAT", "bin/python.CMD"}},
		{"bin/python.exe", ".COM;.EXE", []string{"bin/python.exe"}}, // extensions match regardless of case
		{"bin/python3.11", ".EXE;.CMD", []string{"bin/python3.11.EXE", "bin/python3.11.CMD"}},
		{"bin/train", "exe; .bat;;", []string{"bin/train.exe", "bin/train.bat"}},
	}
	for _, c := range cases {
		if got := windowsExeCandidates(c.path, c.pathExt); !reflect.DeepEqual(got, c.want) {
			t.Errorf("windowsExeCandidates(%q, %q) = %q, want %q", c.path, c.pathExt, got, c.want)
		}
	}
}
