package testenv

import "syscall"

// orphanAttr has the kernel SIGKILL a child whose parent died (a test
// binary killed on timeout, a benchmark killed with -9): servers and agents
// must not outlive what started them. Pdeathsig follows the parent thread,
// and Go does not end the threads it starts children from.
func orphanAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
