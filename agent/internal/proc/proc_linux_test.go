//go:build linux

package proc

import (
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
)

// readProcStat must count fields from the last ')': a command name may
// hold spaces and parentheses.
func TestReadProcStatOfThisProcess(t *testing.T) {
	st, err := readProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if pgrp := syscall.Getpgrp(); st.pgrp != pgrp || st.state == 'Z' || st.startTicks == 0 {
		t.Fatalf("stat of this process = %+v, want pgrp %d, alive, a start time", st, pgrp)
	}
	if !sameProcess(os.Getpid(), st.startTicks) || sameProcess(os.Getpid(), st.startTicks+1) {
		t.Fatal("sameProcess does not tell this process by its start time")
	}
}

// A census of a run's processes finds the tagged one and passes over a
// process started with an empty environment (read again, in case it was
// in the middle of execve, then left out), and over this process (no
// kernel thread bit here; the flags field is parsed).
func TestACensusPassesOverAnEmptyEnvironment(t *testing.T) {
	tagged := exec.Command("sleep", "30")
	tagged.Env = []string{EnvRunID + "=census-test"}
	bare := exec.Command("sleep", "30")
	bare.Env = []string{}
	for _, c := range []*exec.Cmd{tagged, bare} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	}
	if !mayBeExecing(bare.Process.Pid) || mayBeExecing(1) {
		t.Fatal("mayBeExecing: want true for a live user process, false for PID 1")
	}
	if st, err := readProcStat(os.Getpid()); err != nil || st.flags&pfKthread != 0 {
		t.Fatalf("this process's flags = %+v (%v), want no kernel-thread bit", st, err)
	}
	if got := processesOfRun("census-test"); !slices.Equal(got, []int{tagged.Process.Pid}) {
		t.Fatalf("processesOfRun = %v, want only %d", got, tagged.Process.Pid)
	}
}
