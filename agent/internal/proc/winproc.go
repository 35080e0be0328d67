package proc

import (
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/argus-exec/argus/server/api"
)

// The decisions behind Windows process control, kept free of Windows
// calls and build tags so that they are unit-tested on Linux, where the
// tests run. The *_windows.go files make the calls; they check at compile
// time that the constants below match golang.org/x/sys/windows.

// Process creation flags (CreateProcess dwCreationFlags) and job limits.
const (
	winCreateNewProcessGroup  = 0x00000200 // CREATE_NEW_PROCESS_GROUP
	winCreateNoWindow         = 0x08000000 // CREATE_NO_WINDOW
	winCreateBreakawayFromJob = 0x01000000 // CREATE_BREAKAWAY_FROM_JOB
	winDetachedProcess        = 0x00000008 // DETACHED_PROCESS
	winLimitBreakawayOK       = 0x00000800 // JOB_OBJECT_LIMIT_BREAKAWAY_OK
	winLimitSilentBreakawayOK = 0x00001000 // JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK
)

// Exit statuses a stop leaves behind.
const (
	// winStatusControlCExit is STATUS_CONTROL_C_EXIT: the process ended by
	// the default handler of a console control event, here the CTRL_BREAK
	// a stop sends (CTRL+C is disabled in a new process group).
	winStatusControlCExit = 0xC000013A
	// jobKillExitCode is what TerminateJobObject gives every process of a
	// run that a stop kills. Bit 29 set marks it application-defined (as
	// 0xE06D7363 is for C++ exceptions), so no system status collides;
	// "A5" for Argus, 9 as in SIGKILL.
	jobKillExitCode = 0xE0A50009
)

// jobName names a run's job object. A restarted agent opens the job by
// this name to watch or stop a run an earlier agent started, so the name
// must never change between agent versions: a run ID of plain characters
// is used as is, any other is hex-encoded (as the agent names run logs).
// Local\ is the session's namespace, which any user may create names in
// (Global\ needs a privilege); the agent and its runs share a session,
// whether it runs as a service or in a terminal.
func jobName(runID string) string {
	id := runID
	if len(id) > 100 || !plainRunID.MatchString(id) {
		id = fmt.Sprintf("run-%x", runID)
	}
	return `Local\argus-run-` + id
}

// plainRunID is a run ID usable in an object name as it is (with at most
// 100 of them, checked apart: a {1,100} here compiles to a hundred copies,
// a cost every start of the agent's executable pays, run supervisors
// included).
var plainRunID = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// runCreationFlags is how a run is created. A new process group, so that
// CTRL_BREAK reaches the run and nothing else; its own windowless console
// (CREATE_NO_WINDOW), so that closing or pressing Ctrl-C in the agent's
// terminal does not reach it and a service's runs get no window. If the
// agent itself is in a job (some terminals and CI runners put their
// processes in one that kills on close), the run breaks away from it when
// that job allows: otherwise the run would die with the agent's job,
// which is what a run must outlive. Breakaway a job does not allow would
// make CreateProcess fail, so it is not asked for.
func runCreationFlags(agentInJob bool, agentJobLimits uint32) uint32 {
	flags := uint32(winCreateNewProcessGroup | winCreateNoWindow)
	if agentInJob && agentJobLimits&winLimitSilentBreakawayOK == 0 && agentJobLimits&winLimitBreakawayOK != 0 {
		flags |= winCreateBreakawayFromJob
	}
	return flags
}

// detachedCreationFlags is how a helper that must outlive the agent (a
// run's supervisor) is created: no console at all (DETACHED_PROCESS), so
// the agent's terminal closing or its Ctrl-C never reaches it, in a
// process group of its own, and out of the agent's job when that job
// allows it, for the reason runCreationFlags gives.
func detachedCreationFlags(agentInJob bool, agentJobLimits uint32) uint32 {
	flags := uint32(winDetachedProcess | winCreateNewProcessGroup)
	return flags | runCreationFlags(agentInJob, agentJobLimits)&winCreateBreakawayFromJob
}

// ctrlBreakGroup decides whether a stop may send CTRL_BREAK_EVENT and to
// which process group: the run's leader's, which CREATE_NEW_PROCESS_GROUP
// made a group with the leader's PID as its id, and only while the leader
// provably is the run (a PID reused by another process is never
// signalled). Group 0 would mean every process on the console, so it is
// never a target.
func ctrlBreakGroup(leaderPID int, leaderIsRun bool) (uint32, bool) {
	if !leaderIsRun || leaderPID <= 0 || uint64(leaderPID) > math.MaxUint32 {
		return 0, false
	}
	return uint32(leaderPID), true
}

// parseBreakTarget reads the process group a CTRL_BREAK helper was given
// (see ctrlbreak_windows.go); 0 and garbage are refused, as above.
func parseBreakTarget(v string) (uint32, bool) {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 0 {
		return 0, false
	}
	return uint32(n), true
}

// filetimeTicks is a FILETIME (100 ns intervals since 1601) as one
// uint64: a process's creation time, kept as Process.StartTime.
func filetimeTicks(low, high uint32) uint64 {
	return uint64(high)<<32 | uint64(low)
}

// windowsExit turns a Windows exit code into the report's code or its
// "signal": how the run was ended, in Windows' words (api.EndCtrlBreak,
// api.EndJobTerminated), not the POSIX signals they stand in for; any
// other code is the process's own exit code.
func windowsExit(code uint32) (*int, string) {
	switch code {
	case winStatusControlCExit:
		return nil, api.EndCtrlBreak
	case jobKillExitCode:
		return nil, api.EndJobTerminated
	}
	c := int(code)
	return &c, ""
}

// windowsShell runs a recorded shell string with cmd.exe. The command
// line is given raw: cmd.exe does not parse arguments the way the C
// runtime does, so the usual quoting would mangle any string with quotes
// in it. /d skips AutoRun commands; /s with /c makes cmd.exe strip just
// the outer pair of quotes and run the rest exactly as recorded.
func windowsShell(comspec, shell string) (argv []string, cmdLine string) {
	return []string{comspec, "/d", "/s", "/c", shell},
		`"` + comspec + `" /d /s /c "` + shell + `"`
}

// defaultPathExt is what Windows assumes when PATHEXT is not set.
const defaultPathExt = ".COM;.EXE;.BAT;.CMD"

// windowsExeCandidates lists the files a bare command name may be, as
// Windows' own search does: the name itself when it already has one of
// the executable extensions, else the name with each of them in turn.
func windowsExeCandidates(path, pathExt string) []string {
	if pathExt == "" {
		pathExt = defaultPathExt
	}
	var exts []string
	for _, e := range strings.Split(pathExt, ";") {
		if e = strings.TrimSpace(e); e != "" {
			if !strings.HasPrefix(e, ".") {
				e = "." + e
			}
			exts = append(exts, e)
		}
	}
	if ext := filepath.Ext(path); ext != "" {
		for _, e := range exts {
			if strings.EqualFold(ext, e) {
				return []string{path}
			}
		}
	}
	out := make([]string, 0, len(exts))
	for _, e := range exts {
		out = append(out, path+e)
	}
	return out
}
