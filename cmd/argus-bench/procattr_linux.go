package main

import "syscall"

// childAttr makes the kernel kill a child if this process dies without
// stopping it (kill -9, a crash), so no server is left holding a port.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
