//go:build windows

package atomicfile

// SyncDir is a no-op on Windows, where a directory cannot be opened for
// fsync; WriteFile's rename is then as durable as the file system makes it.
func SyncDir(dir string) error { return nil }
