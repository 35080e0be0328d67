package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/argus-exec/argus/internal/atomicfile"
)

// Backup writes a consistent copy of the database at dbPath to dest, while
// servers go on writing it: VACUUM INTO reads one snapshot of the database
// (a read transaction, which WAL lets run beside writers), so the copy
// holds every transaction committed before it began and none after. The
// copy is made in a private directory beside dest, made 0600 and synced,
// then linked into place: dest is whole or absent, never readable by
// others (it holds token hashes), and an existing dest is never replaced.
func Backup(ctx context.Context, dbPath, dest string) error {
	if dbPath == Memory || dbPath == "" {
		return errors.New("give the database file to back up with --db")
	}
	if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("no database at %s: %w", dbPath, err)
	}
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("%s exists: give a new file name (a backup never replaces a file)", dest)
	}
	tmpDir, err := os.MkdirTemp(filepath.Dir(dest), ".argus-backup-") // 0700
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.RemoveAll(tmpDir)
	tmp := filepath.Join(tmpDir, "argus.db")
	if err := vacuumInto(ctx, dbPath, tmp); err != nil {
		return err
	}
	if err := syncPrivate(tmp); err != nil {
		return err
	}
	if err := os.Link(tmp, dest); err != nil {
		return fmt.Errorf("backup: put the copy at %s: %w", dest, err)
	}
	return atomicfile.SyncDir(filepath.Dir(dest))
}

func vacuumInto(ctx context.Context, dbPath, tmp string) error {
	db, err := sql.Open("sqlite", dsn(dbPath))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		return fmt.Errorf("backup of %s: %w", dbPath, err)
	}
	return nil
}

// syncPrivate makes the copy 0600 and flushes it to disk.
func syncPrivate(path string) error {
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
