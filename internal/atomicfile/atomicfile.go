// Package atomicfile writes small private files so that a crash or a power
// cut leaves either the old content or the new, never a mix: WriteFile
// (temp file in the same directory, fsync, rename over the target,
// optionally a directory fsync) and SyncDir. Files are readable by their
// owner only (0600).
//
// The agent's token cache (package token) and its journal (package agent)
// write through it. What a file holds, where it lives and who may read it
// back (the token cache's permission checks, the journal's directory
// rules) belong to those callers, not here. The package is internal: it is
// a helper of this module, not an API.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data, readable by its owner only (0600):
// the data goes to a temp file in the same directory, is fsynced and is
// renamed over path, so a crash leaves the old file or the new one, never
// a mix. With durableName the directory is fsynced too, so that the rename
// itself survives a power cut; without it the rename is left to the file
// system, which saves an fsync where losing the rename is harmless.
func WriteFile(path string, data []byte, durableName bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("create temp file next to %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("chmod temp file: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	if !durableName {
		return nil
	}
	return SyncDir(filepath.Dir(path))
}
