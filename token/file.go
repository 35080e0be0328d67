package token

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data, readable by its owner only (0600):
// the data goes to a temp file in the same directory, is fsynced and is
// renamed over path, so a crash leaves the old file or the new one, never
// a mix. With durableName the directory is fsynced too, so that the rename
// itself survives a power cut. The token cache and the agent's journal
// both write through it.
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
