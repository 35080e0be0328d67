//go:build windows

package agent

import (
	"fmt"
	"os"
)

// privateDir creates dir; on Windows the user profile's ACL is what keeps
// others out, so there are no mode bits to check.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return nil
}

func syncDir(dir string) error { return nil }

func openLog(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
}

// lockState: the single-instance lock comes with the Windows service work.
func lockState(dir string) (release func(), err error) { return func() {}, nil }
