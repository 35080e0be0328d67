//go:build !windows

package token

import (
	"fmt"
	"io/fs"
)

// checkPrivate refuses a token file whose mode lets group or others in.
func checkPrivate(path string, st fs.FileInfo) error {
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("token file %s has mode %04o and others can read it: run chmod 600 %s (and consider revoking the token)",
			path, st.Mode().Perm(), path)
	}
	return nil
}
