// Tests of who may read the token file: directory and file modes, and
// refusing token files others can read or swap.

package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/argus-exec/argus/internal/tempdir"
)

func perm(t *testing.T, path string) fs.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return st.Mode().Perm()
}

// writeRaw writes data to path with exactly the given mode, regardless of umask.
func writeRaw(t *testing.T, path string, data []byte, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func cacheJSON(t *testing.T, c Cache) []byte {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSaveCacheModes checks that the directory ends up 0700 and the file 0600
// whatever the umask: a permissive 000, the usual 022, and a hostile 377 that
// would otherwise leave the directory unusable and the file unreadable.
func TestSaveCacheModes(t *testing.T) {
	skipOnWindows(t)
	for _, mask := range []int{0o000, 0o022, 0o377} {
		t.Run(fmt.Sprintf("umask %03o", mask), func(t *testing.T) {
			home := filepath.Join(tempdir.New(t), ".argus-agent")
			path := CachePath(home, "")
			withUmask(t, mask)
			if err := SaveCache(path, sampleCache(t)); err != nil {
				t.Fatalf("SaveCache: %v", err)
			}
			if got := perm(t, home); got != 0o700 {
				t.Errorf("dir mode = %04o, want 0700", got)
			}
			if got := perm(t, path); got != 0o600 {
				t.Errorf("file mode = %04o, want 0600", got)
			}
			st, _ := os.Stat(home)
			if !st.IsDir() {
				t.Errorf("%s is not a directory", home)
			}
			assertOnly(t, home, "token.json")
		})
	}
}

func TestSaveCacheNestedDir(t *testing.T) {
	skipOnWindows(t)
	home := filepath.Join(tempdir.New(t), "a", "b", ".argus-agent")
	path := CachePath(home, "gpu1")
	if err := SaveCache(path, sampleCache(t)); err != nil {
		t.Fatalf("SaveCache: %v", err)
	}
	if got := perm(t, home); got != 0o700 {
		t.Errorf("dir mode = %04o, want 0700", got)
	}
	if got := perm(t, path); got != 0o600 {
		t.Errorf("file mode = %04o, want 0600", got)
	}
}

func TestSaveCacheTightensExistingDirAndFile(t *testing.T) {
	skipOnWindows(t)
	home := filepath.Join(tempdir.New(t), ".argus-agent")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o755); err != nil {
		t.Fatal(err)
	}
	path := CachePath(home, "")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := SaveCache(path, sampleCache(t)); err != nil {
		t.Fatalf("SaveCache: %v", err)
	}
	if got := perm(t, home); got != 0o700 {
		t.Errorf("existing dir mode = %04o after save, want 0700", got)
	}
	if got := perm(t, path); got != 0o600 {
		t.Errorf("replaced file mode = %04o, want 0600", got)
	}
	if _, err := LoadCache(path); err != nil {
		t.Errorf("LoadCache after tightening: %v", err)
	}
}

func TestLoadCacheRefusesOpenModes(t *testing.T) {
	skipOnWindows(t)
	for _, mode := range []fs.FileMode{0o644, 0o640, 0o604, 0o660, 0o606, 0o620, 0o602, 0o666, 0o610} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			path := CachePath(filepath.Join(tempdir.New(t), ".argus-agent"), "")
			c := sampleCache(t)
			writeRaw(t, path, cacheJSON(t, c), mode)
			if got := perm(t, path); got != mode {
				t.Fatalf("setup: mode %04o, want %04o", got, mode)
			}
			_, err := LoadCache(path)
			if err == nil {
				t.Fatalf("LoadCache accepted a %04o file", mode)
			}
			msg := err.Error()
			if !strings.Contains(msg, "chmod 600") {
				t.Errorf("error %q does not say chmod 600", msg)
			}
			if !strings.Contains(msg, "chmod 600 "+path) {
				t.Errorf("error %q does not give the full command for %s", msg, path)
			}
			if !strings.Contains(msg, fmt.Sprintf("%04o", mode)) {
				t.Errorf("error %q does not show the mode %04o", msg, mode)
			}
			if strings.Contains(msg, c.Token) {
				t.Errorf("error %q echoes the token", msg)
			}
			if errors.Is(err, ErrCacheMissing) {
				t.Errorf("open-mode error %v wraps ErrCacheMissing", err)
			}
			// The fix the message suggests works.
			if err := os.Chmod(path, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadCache(path)
			if err != nil {
				t.Fatalf("LoadCache after chmod 600: %v", err)
			}
			assertSameCache(t, got, c)
		})
	}
}

func TestLoadCacheAcceptsOwnerOnlyModes(t *testing.T) {
	skipOnWindows(t)
	for _, mode := range []fs.FileMode{0o600, 0o400} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			path := CachePath(filepath.Join(tempdir.New(t), ".argus-agent"), "")
			c := sampleCache(t)
			writeRaw(t, path, cacheJSON(t, c), mode)
			got, err := LoadCache(path)
			if err != nil {
				t.Fatalf("LoadCache(%04o): %v", mode, err)
			}
			assertSameCache(t, got, c)
		})
	}
}

// symlinkOrSkip makes link point at target, or skips where symlinks need
// privileges (Windows without developer mode).
func symlinkOrSkip(t *testing.T, target, link string) {
	t.Helper()
	if tempdir.UnderWine() {
		// Wine 8 makes a Unix symlink that Go's Lstat does not report as a
		// Windows reparse point: the refusal needs a real Windows.
		t.Skip("under Wine: its symlinks are not Windows reparse points, so the symlink refusal cannot be shown here")
	}
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("cannot create symlinks here: %v", err)
	}
}

func TestLoadCacheRefusesSymlink(t *testing.T) {
	dir := tempdir.New(t)
	elsewhere := filepath.Join(dir, "elsewhere.json")
	c := sampleCache(t)
	writeRaw(t, elsewhere, cacheJSON(t, c), 0o600)
	home := filepath.Join(dir, ".argus-agent")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"to a valid cache": elsewhere,
		"dangling":         filepath.Join(dir, "gone.json"),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(home, "token-"+strings.ReplaceAll(name, " ", "")+".json")
			symlinkOrSkip(t, target, path)
			_, err := LoadCache(path)
			if err == nil {
				t.Fatal("LoadCache followed a symlink")
			}
			want := "token file " + path + " is a symlink; refusing to follow it: replace it with the file itself"
			if err.Error() != want {
				t.Errorf("error = %q, want %q", err, want)
			}
			if errors.Is(err, ErrCacheMissing) {
				t.Errorf("symlink error %v wraps ErrCacheMissing", err)
			}
		})
	}
	// The fix the message suggests works.
	path := CachePath(home, "")
	symlinkOrSkip(t, elsewhere, path)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(elsewhere, path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCache(path)
	if err != nil {
		t.Fatalf("LoadCache after replacing the link: %v", err)
	}
	assertSameCache(t, got, c)
}

func TestLoadCacheRefusesNonRegular(t *testing.T) {
	path := CachePath(tempdir.New(t), "")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := LoadCache(path)
	if err == nil || !strings.Contains(err.Error(), "not a regular file") || !strings.Contains(err.Error(), "--reregister") {
		t.Fatalf("LoadCache(directory) = %v", err)
	}
}
