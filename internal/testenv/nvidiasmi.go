//go:build !windows

// A stand-in nvidia-smi, so tests of the agent's GPU report run on hosts
// without NVIDIA GPUs, with output recorded on one that has them.

package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// NvidiaSMIA100x2 is the answer of nvidia-smi --query-gpu=index,name,
// utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits
// on a host with two A100 80GB, the first of them busy and full.
const NvidiaSMIA100x2 = "0, NVIDIA A100-SXM4-80GB, 97, 79872, 81920\n" +
	"1, NVIDIA A100-SXM4-80GB, 0, 4, 81920\n"

// FakeNvidiaSMI writes an executable nvidia-smi into a fresh directory
// that prints csv, whatever its arguments, and exits 0, and returns the
// directory, for a test to put first on the PATH of what it starts. It
// needs nothing from PATH (printf is built into sh), so a test may put
// the directory alone there.
func FakeNvidiaSMI(t testing.TB, csv string) (dir string) {
	t.Helper()
	dir = t.TempDir()
	path := filepath.Join(dir, "nvidia-smi")
	script := "#!/bin/sh\nprintf '%s' " + shellQuote(csv) + "\n"
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatalf("fake nvidia-smi: %v", err)
	}
	if err := checkPrints(path, csv); err != nil {
		t.Fatalf("fake nvidia-smi: %v", err)
	}
	return dir
}

// checkPrints runs the script once, which also waits out "text file
// busy": a process forked elsewhere in the test binary while the script
// was open for writing keeps it open until that process execs.
func checkPrints(path, want string) error {
	return Poll(context.Background(), 10*time.Second, func() error {
		out, err := exec.Command(path).Output()
		switch {
		case errors.Is(err, syscall.ETXTBSY):
			return err
		case err != nil:
			return permanent(err)
		case string(out) != want:
			return permanent(fmt.Errorf("%s prints %q, not %q", path, out, want))
		}
		return nil
	})
}

// shellQuote quotes s as one word for sh, whatever it holds but NUL.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
