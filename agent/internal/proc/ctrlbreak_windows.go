//go:build windows

package proc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/windows"
)

// GenerateConsoleCtrlEvent reaches only processes on the caller's own
// console, and each run has a console of its own (CREATE_NO_WINDOW), while
// the agent has its terminal's or, as a service, none. Attaching the agent
// to a run's console would detach it from its own, for every goroutine at
// once. So a CTRL_BREAK is sent by a helper: the agent's own executable,
// started detached with envCtrlBreak naming the run's process group (its
// leader's PID), attaches to that process's console, sends the event to
// that group only, and exits. The init below turns the process into the
// helper before anything else of the agent runs.

// envCtrlBreak carries the target process group to the helper.
const envCtrlBreak = "ARGUS_AGENT_CTRL_BREAK_GROUP"

// ctrlBreakTimeout bounds the helper: it attaches, sends and exits.
const ctrlBreakTimeout = 10 * time.Second

var (
	procAttachConsole = kernel32.NewProc("AttachConsole")
	procFreeConsole   = kernel32.NewProc("FreeConsole")
)

func init() {
	if v, ok := os.LookupEnv(envCtrlBreak); ok {
		os.Exit(ctrlBreakHelper(v))
	}
}

// ctrlBreakHelper is the helper's whole life; its exit code says which
// step failed.
func ctrlBreakHelper(v string) int {
	group, ok := parseBreakTarget(v)
	if !ok {
		return 2
	}
	procFreeConsole.Call() // started detached, it should have none; a process has at most one
	if r, _, _ := procAttachConsole.Call(uintptr(group)); r == 0 {
		return 3
	}
	// The event goes to the run's group, which this process is not in; a
	// handler anyway keeps a stray one from ending the helper unreported.
	signal.Notify(make(chan os.Signal, 1), os.Interrupt)
	if err := windows.GenerateConsoleCtrlEvent(windows.CTRL_BREAK_EVENT, group); err != nil {
		return 4
	}
	return 0
}

// sendCtrlBreak runs the helper for one process group and waits for it.
func sendCtrlBreak(group uint32) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), ctrlBreakTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), envCtrlBreak+"="+strconv.FormatUint(uint64(group), 10))
	// Detached: no console of its own to leave before attaching to the
	// run's; a group of its own: never in the way of an event.
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: winDetachedProcess | winCreateNewProcessGroup}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("CTRL_BREAK to process group %d: %w", group, err)
	}
	return nil
}
