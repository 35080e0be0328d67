//go:build unix

package agent

import (
	"errors"
	"os/exec"
	"syscall"
)

// newSession makes the run the leader of a new session and so of a new
// process group (pgid = pid): it outlives the agent, no terminal signal
// reaches it, and the whole tree can be signalled at once.
func newSession(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return nil
}

// signalGroup sends sig to every process of the group.
func signalGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 1 {
		return errors.New("refusing to signal process group <= 1")
	}
	return syscall.Kill(-pgid, sig)
}

// signalPID sends sig to one process.
func signalPID(pid int, sig syscall.Signal) error {
	if pid <= 1 {
		return errors.New("refusing to signal pid <= 1")
	}
	return syscall.Kill(pid, sig)
}

// anyInGroup reports whether the kernel still knows a process of the
// group, zombies included.
func anyInGroup(pgid int) bool {
	if pgid <= 1 {
		return false
	}
	err := syscall.Kill(-pgid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

var (
	sigTERM = syscall.SIGTERM
	sigKILL = syscall.SIGKILL
)

// exitOf turns a finished command's state into a code or a signal name.
func exitOf(ps interface{ Sys() any }) (code *int, signal string) {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok {
		return nil, ""
	}
	if ws.Signaled() {
		return nil, signalName(ws.Signal())
	}
	c := ws.ExitStatus()
	return &c, ""
}

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	case syscall.SIGABRT:
		return "SIGABRT"
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGBUS:
		return "SIGBUS"
	case syscall.SIGPIPE:
		return "SIGPIPE"
	case syscall.SIGUSR1:
		return "SIGUSR1"
	case syscall.SIGUSR2:
		return "SIGUSR2"
	}
	return s.String()
}

// groupOf is pid's process group as the kernel has it, or pid itself
// when the process is gone.
func groupOf(pid int) int {
	if g, err := syscall.Getpgid(pid); err == nil {
		return g
	}
	return pid
}
