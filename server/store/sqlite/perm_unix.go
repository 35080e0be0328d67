//go:build !windows

package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// privateFile makes the database file, and any WAL and shared-memory files
// beside it, readable by the server's user alone: they hold every recorded
// command, environment and output. A missing file is created 0600 here
// (SQLite would create it under the umask, usually 0644, and gives its WAL
// and SHM files the database's mode); an existing one is tightened.
func privateFile(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	switch {
	case err == nil:
		return f.Close()
	case !errors.Is(err, fs.ErrExist):
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, 0o600); err != nil {
				return fmt.Errorf("%s is readable by other users and cannot be made private: %w", p, err)
			}
		}
	}
	return nil
}

// checkDirPrivate refuses a directory other users may write to: they could
// replace the database or plant its WAL file.
func checkDirPrivate(dir string, fi fs.FileInfo) error {
	if fi.Mode().Perm()&0o002 != 0 {
		return fmt.Errorf("directory %s is writable by other users (mode %o): keep the database in a directory only the server's user can write, e.g. mkdir -m 700", dir, fi.Mode().Perm())
	}
	return nil
}
