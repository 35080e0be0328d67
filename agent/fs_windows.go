//go:build windows

package agent

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// privateDir creates dir; on Windows the user profile's ACL is what keeps
// others out, so there are no mode bits to check.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return nil
}

// lockState holds an exclusive lock on the identity's state directory for
// the agent's lifetime: two agents on one journal could each start a
// redelivered command. Windows releases the lock when the process exits.
func lockState(dir string) (release func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	err = windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY,
		0, 1, 0, new(windows.Overlapped))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("another argus-agent is already running with this --home and --label (%s is locked)", dir)
	}
	return func() { f.Close() }, nil
}
