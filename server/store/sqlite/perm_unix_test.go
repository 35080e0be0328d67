//go:build !windows

package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/argus-exec/argus/server/store/sqlite"
)

// The database and its WAL and SHM files are the server user's alone,
// whatever the umask; an existing readable file is tightened; a directory
// other users may write to is refused before anything is created there.
func TestDatabaseFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022) // the usual one, under which SQLite makes 0644 files
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "argus.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.UserByName(context.Background(), "nobody"); err == nil {
		t.Fatal("found a user in a new database")
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(p), err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %o, want 600", filepath.Base(p), fi.Mode().Perm())
		}
	}
	st.Close()

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err = sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("an existing 0644 database was left %o", fi.Mode().Perm())
	}

	open := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o1777); err != nil { // as /tmp is
		t.Fatal(err)
	}
	_, err = sqlite.Open(context.Background(), filepath.Join(open, "argus.db"))
	if err == nil || !strings.Contains(err.Error(), "writable by other users") {
		t.Fatalf("database in a world-writable directory: %v", err)
	}
	if entries, _ := os.ReadDir(open); len(entries) != 0 {
		t.Fatalf("the refused open left %d files behind", len(entries))
	}
}
