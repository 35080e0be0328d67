//go:build windows

package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Each run lives in a job object of its own, named after the run
// (jobName). The job is the run's identity on Windows: it holds exactly
// the run's processes, children and grandchildren included, so "is the
// run alive" is the job's count of active processes and "kill the run" is
// TerminateJobObject, with no PID that could have been reused.
//
// The job sets no limits, in particular not
// JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE: the run outlives every handle to its
// job, the agent's included. But Windows forgets an object's name once
// the last handle to it is closed (a process in the job does not count),
// and a restarted agent finds the job by name. So a handle is kept open
// in the run itself (duplicated into its leader, query access only), and
// by the agent for as long as the job has processes (jobHandles).

var (
	kernel32           = windows.NewLazySystemDLL("kernel32.dll")
	procOpenJobObjectW = kernel32.NewProc("OpenJobObjectW")
	procIsProcessInJob = kernel32.NewProc("IsProcessInJob")
)

// Job object access rights (winnt.h), not exported by x/sys/windows.
const (
	jobObjectQuery     = 0x0004
	jobObjectTerminate = 0x0008
)

// jobHandles keeps one handle per job this agent created or opened, which
// keeps the job's name alive while its leader is gone but others of the
// run are not. Callers never use these handles directly (they get their
// own, see openJob), so pruning can close them at any time.
var jobHandles = struct {
	sync.Mutex
	m map[string]windows.Handle
}{m: map[string]windows.Handle{}}

// afterStart puts a just-started run in a new job object of its own.
// Between Start and here the run runs outside the job; a process it
// spawned in that window (microseconds, before its own code has run) is
// not in the job. Start kills a run that could not be put in a job.
func afterStart(cmd *exec.Cmd, runID string) error {
	name, err := windows.UTF16PtrFromString(jobName(runID))
	if err != nil {
		return err
	}
	job, err := createFreshJob(name)
	if err != nil {
		return fmt.Errorf("create the run's job object: %w", err)
	}
	// The run is this agent's child: Go holds a handle to it, so its PID
	// cannot have been reused.
	proc, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE|windows.PROCESS_DUP_HANDLE,
		false, uint32(cmd.Process.Pid))
	if err != nil {
		windows.CloseHandle(job)
		return fmt.Errorf("open the run's process: %w", err)
	}
	defer windows.CloseHandle(proc)
	if err := windows.AssignProcessToJobObject(job, proc); err != nil {
		windows.CloseHandle(job)
		return fmt.Errorf("put the run in its job object: %w", err)
	}
	var inRun windows.Handle
	if err := windows.DuplicateHandle(windows.CurrentProcess(), job, proc, &inRun, jobObjectQuery, false, 0); err != nil {
		windows.CloseHandle(job)
		return fmt.Errorf("keep the run's job object findable: %w", err)
	}
	keepJob(runID, job)
	return nil
}

// keepJob records the agent's handle to a run's job and closes those of
// jobs whose processes have all ended: nothing can join a job after its
// start, so an empty job stays empty.
func keepJob(runID string, job windows.Handle) {
	jobHandles.Lock()
	defer jobHandles.Unlock()
	for id, h := range jobHandles.m {
		if n, err := jobActive(h); err == nil && n == 0 {
			windows.CloseHandle(h)
			delete(jobHandles.m, id)
		}
	}
	if old, ok := jobHandles.m[runID]; ok {
		windows.CloseHandle(old)
	}
	jobHandles.m[runID] = job
}

// HoldRun opens a run's job by name and keeps the handle (openJob), so
// that the name lives as long as this process even once the run's leader
// and the process that created the job (its supervisor) are gone.
func HoldRun(runID string) {
	if h, err := openJob(runID); err == nil {
		windows.CloseHandle(h)
	}
}

// openJob returns a handle of the caller's own (to close) to a run's job:
// a duplicate of the agent's, else one opened by name, a copy of which
// the agent keeps (a restarted agent then holds the name too).
func openJob(runID string) (windows.Handle, error) {
	jobHandles.Lock()
	defer jobHandles.Unlock()
	self := windows.CurrentProcess()
	if h, ok := jobHandles.m[runID]; ok {
		var dup windows.Handle
		err := windows.DuplicateHandle(self, h, self, &dup, 0, false, windows.DUPLICATE_SAME_ACCESS)
		return dup, err
	}
	name, err := windows.UTF16PtrFromString(jobName(runID))
	if err != nil {
		return 0, err
	}
	r, _, callErr := procOpenJobObjectW.Call(jobObjectQuery|jobObjectTerminate, 0, uintptr(unsafe.Pointer(name)))
	if r == 0 {
		return 0, callErr
	}
	h := windows.Handle(r)
	var kept windows.Handle
	if windows.DuplicateHandle(self, h, self, &kept, 0, false, windows.DUPLICATE_SAME_ACCESS) == nil {
		jobHandles.m[runID] = kept
	}
	return h, nil
}

// jobAccounting is JOBOBJECT_BASIC_ACCOUNTING_INFORMATION.
type jobAccounting struct {
	TotalUserTime, TotalKernelTime, ThisPeriodTotalUserTime, ThisPeriodTotalKernelTime int64
	TotalPageFaultCount, TotalProcesses, ActiveProcesses, TotalTerminatedProcesses     uint32
}

// jobActive is the number of the job's processes that have not exited.
func jobActive(job windows.Handle) (uint32, error) {
	var info jobAccounting
	err := windows.QueryInformationJobObject(job, windows.JobObjectBasicAccountingInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)), nil)
	return info.ActiveProcesses, err
}

// runJobActive reports whether the run's job exists and has live
// processes; ok is false when there is no such job.
func runJobActive(runID string) (alive, ok bool) {
	job, err := openJob(runID)
	if err != nil {
		return false, false
	}
	defer windows.CloseHandle(job)
	n, err := jobActive(job)
	return err != nil || n > 0, true // unreadable counts as alive: a stop then kills
}

// terminateRunJob kills every process of the run's job, reporting whether
// any was left.
func terminateRunJob(runID string) bool {
	job, err := openJob(runID)
	if err != nil {
		return false
	}
	defer windows.CloseHandle(job)
	if n, err := jobActive(job); err == nil && n == 0 {
		return false
	}
	return windows.TerminateJobObject(job, jobKillExitCode) == nil
}

// jobPIDs lists the processes in the run's job (JobObjectBasicProcessIdList:
// two DWORD counts, then one ULONG_PTR per process), growing the buffer
// while the job has more than it holds.
func jobPIDs(runID string) []int {
	job, err := openJob(runID)
	if err != nil {
		return nil
	}
	defer windows.CloseHandle(job)
	const ptr = unsafe.Sizeof(uintptr(0))
	for n := 64; n <= 1<<16; n *= 4 {
		buf := make([]uintptr, (8+uintptr(n)*ptr+ptr-1)/ptr)
		err := windows.QueryInformationJobObject(job, windows.JobObjectBasicProcessIdList,
			uintptr(unsafe.Pointer(&buf[0])), uint32(uintptr(len(buf))*ptr), nil)
		if errors.Is(err, windows.ERROR_MORE_DATA) {
			continue
		}
		if err != nil {
			return nil
		}
		counts := (*[2]uint32)(unsafe.Pointer(&buf[0]))
		if counts[0] > counts[1] && int(counts[0]) > n {
			continue // the job grew between calls: ask again with more room
		}
		list := unsafe.Slice((*uintptr)(unsafe.Add(unsafe.Pointer(&buf[0]), 8)), min(int(counts[1]), n))
		pids := make([]int, 0, len(list))
		for _, p := range list {
			if int(p) != os.Getpid() {
				pids = append(pids, int(p))
			}
		}
		return pids
	}
	return nil
}

// inJob reports whether the process is in the job; job 0 asks about any
// job (IsProcessInJob).
func inJob(proc, job windows.Handle) (bool, error) {
	var result int32
	r, _, err := procIsProcessInJob.Call(uintptr(proc), uintptr(job), uintptr(unsafe.Pointer(&result)))
	if r == 0 {
		return false, err
	}
	return result != 0, nil
}

// procCreateJobObjectW is called directly: x/sys's wrapper drops the last
// error when a handle comes back, and ERROR_ALREADY_EXISTS (an object of
// that name existed, so we were handed it) must not pass unnoticed.
var procCreateJobObjectW = windows.NewLazySystemDLL("kernel32.dll").NewProc("CreateJobObjectW")

// createFreshJob creates a job object under name and refuses one that
// already existed: another process that holds the name must not end up
// owning (and able to terminate or escape) the run's job.
func createFreshJob(name *uint16) (windows.Handle, error) {
	r, _, lastErr := procCreateJobObjectW.Call(0, uintptr(unsafe.Pointer(name)))
	job := windows.Handle(r)
	if job == 0 {
		return 0, lastErr
	}
	if errors.Is(lastErr, windows.ERROR_ALREADY_EXISTS) {
		windows.CloseHandle(job)
		return 0, errors.New("a job object with the run's name already exists")
	}
	return job, nil
}
