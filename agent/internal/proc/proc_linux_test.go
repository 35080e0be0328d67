//go:build linux

package proc

import (
	"os"
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
