// Package tempdir is t.TempDir for tests that also run as Windows binaries
// under Wine (internal/testenv's Wine lane): Wine 8 refuses the file
// deletion Go's os.RemoveAll uses on Windows (NtSetInformationFile with
// FileDispositionInformationEx answers "Invalid function"), so every
// t.TempDir cleanup fails there. New removes its directory name by name
// with os.Remove (DeleteFile, RemoveDirectory) on Windows instead; on
// other systems it is t.TempDir.
package tempdir

import (
	"os"
	"testing"
)

// UnderWine reports whether this test binary runs under Wine: the Wine
// lane sets ARGUS_UNDER_WINE=1. A test skips what Wine does not emulate
// only then, saying what.
func UnderWine() bool { return os.Getenv("ARGUS_UNDER_WINE") == "1" }

// New is a fresh directory for t, removed when t ends.
func New(t testing.TB) string {
	t.Helper()
	return newDir(t)
}
