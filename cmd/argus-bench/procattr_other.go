//go:build !linux

package main

import "syscall"

// childAttr has nothing to add off Linux: there is no parent-death signal,
// so only a clean exit or Ctrl-C stops the children.
func childAttr() *syscall.SysProcAttr { return nil }
