package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/argus-exec/argus/internal/tempdir"
)

func skipOnWindows(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("Unix mode bits are not enforced on Windows")
	}
}

func perm(t *testing.T, path string) fs.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return st.Mode().Perm()
}

// assertOnly checks that dir holds exactly want, and no temp file.
func assertOnly(t *testing.T, dir string, want ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read dir %s: %v", dir, err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("dir %s holds %q, want exactly %q", dir, got, want)
	}
	for _, n := range got {
		if strings.HasPrefix(n, ".tmp-") {
			t.Fatalf("leftover temp file %s in %s", n, dir)
		}
	}
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriteFileCreatesAndReplaces(t *testing.T) {
	for _, durable := range []bool{false, true} {
		t.Run(fmt.Sprintf("durableName=%v", durable), func(t *testing.T) {
			dir := tempdir.New(t)
			path := filepath.Join(dir, "state.json")
			if err := WriteFile(path, []byte("first"), durable); err != nil {
				t.Fatalf("create: %v", err)
			}
			if err := WriteFile(path, []byte("second"), durable); err != nil {
				t.Fatalf("replace: %v", err)
			}
			if got := readString(t, path); got != "second" {
				t.Fatalf("content = %q, want %q", got, "second")
			}
			assertOnly(t, dir, "state.json")
		})
	}
}

// An overwrite renames a new file over the old one rather than rewriting it
// in place: a reader holding the old file never sees a half-written one.
func TestWriteFileOverwriteIsAtomic(t *testing.T) {
	dir := tempdir.New(t)
	path := filepath.Join(dir, "token.json")
	if err := WriteFile(path, []byte("old"), true); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new"), true); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case tempdir.UnderWine():
		// Wine 8 does not give the renamed file an identity of its own
		// (os.SameFile holds): the content and the lone file are checked.
		t.Log("under Wine: the file identity check is left out (Wine reports the same identity after a rename)")
	case os.SameFile(before, after):
		t.Error("overwrite rewrote the file in place instead of renaming a new one over it")
	}
	if got := readString(t, path); got != "new" {
		t.Errorf("content = %q, want %q", got, "new")
	}
	assertOnly(t, dir, "token.json")
	if runtime.GOOS != "windows" {
		if m := perm(t, path); m != 0o600 {
			t.Errorf("overwritten file mode = %04o, want 0600", m)
		}
	}
}

// The final rename fails (the target is a non-empty directory): the error
// names the target and the temp file is cleaned up.
func TestWriteFileFailedRenameLeavesNoTemp(t *testing.T) {
	dir := tempdir.New(t)
	path := filepath.Join(dir, "token.json")
	if err := os.MkdirAll(filepath.Join(path, "blocker"), 0o700); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(path, []byte("x"), true)
	if err == nil {
		t.Fatal("WriteFile over a directory succeeded")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
	assertOnly(t, dir, "token.json")
}

func TestWriteFileIntoMissingDirFails(t *testing.T) {
	path := filepath.Join(tempdir.New(t), "missing", "x.json")
	err := WriteFile(path, []byte("x"), false)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("WriteFile into a missing directory = %v, want a not-exist error naming %s", err, path)
	}
}

// The file is 0600 whatever the umask, including one that would leave it
// unreadable by its owner, and whatever mode the file it replaces had.
func TestWriteFileIsPrivateWhateverTheUmask(t *testing.T) {
	skipOnWindows(t)
	for _, mask := range []int{0o000, 0o022, 0o377} {
		t.Run(fmt.Sprintf("umask %03o", mask), func(t *testing.T) {
			dir := tempdir.New(t)
			path := filepath.Join(dir, "cmd_1.json")
			if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
			withUmask(t, mask)
			if err := WriteFile(path, []byte("new"), true); err != nil {
				t.Fatalf("WriteFile: %v", err)
			}
			if got := perm(t, path); got != 0o600 {
				t.Errorf("file mode = %04o, want 0600", got)
			}
			assertOnly(t, dir, "cmd_1.json")
		})
	}
}

func TestSyncDir(t *testing.T) {
	if err := SyncDir(tempdir.New(t)); err != nil {
		t.Fatalf("SyncDir of a directory: %v", err)
	}
	missing := filepath.Join(tempdir.New(t), "missing")
	err := SyncDir(missing)
	switch runtime.GOOS {
	case "windows":
		// A no-op there: nothing is opened, so nothing can fail.
		if err != nil {
			t.Fatalf("SyncDir on Windows = %v, want nil", err)
		}
	default:
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("SyncDir of a missing directory = %v, want not-exist", err)
		}
	}
}
