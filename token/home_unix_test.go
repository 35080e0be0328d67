//go:build unix

// Tests of who may own and write the agent's home and token file.

package token

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// otherUID is a user the tests hand files to (nobody on Linux and macOS).
const otherUID = 65534

// needRoot skips a test that must chown files to another user, unless CI
// is set: there it must run, and failing says so.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test hands files to another user and needs root; CI must run it as root")
	}
	t.Skip("not root: cannot hand files to another user (CI=true makes this a failure)")
}

func mkdirMode(t *testing.T, dir string, mode fs.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	return dir
}

func wantUnsafe(t *testing.T, err error, parts ...string) {
	t.Helper()
	if !errors.Is(err, ErrUnsafe) {
		t.Fatalf("error %v, want one matching ErrUnsafe", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not say %q", err, p)
		}
	}
}

func TestCheckHomeModes(t *testing.T) {
	for _, mode := range []fs.FileMode{0o700, 0o750, 0o755, 0o500} {
		home := mkdirMode(t, filepath.Join(t.TempDir(), "home"), mode)
		if err := CheckHome(home, os.Geteuid()); err != nil {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
	if err := CheckHome(filepath.Join(t.TempDir(), "not-yet"), os.Geteuid()); err != nil {
		t.Errorf("a home that does not exist yet: %v", err)
	}
	for _, mode := range []fs.FileMode{0o777, 0o770, 0o702, 0o720, 0o777 | fs.ModeSticky} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			home := mkdirMode(t, filepath.Join(t.TempDir(), "home"), mode)
			err := CheckHome(home, os.Geteuid())
			wantUnsafe(t, err, home+" is writable by other users (mode "+fmt.Sprintf("%04o", mode.Perm())+"): run chmod 700 "+home)
			// The fix the message gives works.
			if err := os.Chmod(home, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := CheckHome(home, os.Geteuid()); err != nil {
				t.Fatalf("after chmod 700: %v", err)
			}
		})
	}
}

func TestCheckHomeNotADirectory(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	writeRaw(t, home, []byte("x"), 0o600)
	wantUnsafe(t, CheckHome(home, os.Geteuid()), home+" is not a directory")
}

func TestCheckHomeAncestors(t *testing.T) {
	// Under a directory anyone may write, home can be renamed away and
	// replaced; the sticky bit (as on /tmp) prevents that.
	open := mkdirMode(t, filepath.Join(t.TempDir(), "shared"), 0o777)
	home := mkdirMode(t, filepath.Join(open, "home"), 0o700)
	wantUnsafe(t, CheckHome(home, os.Geteuid()), open+", above the agent's home "+home+", is writable by other users (mode 0777)", "chmod go-w "+open)
	mkdirMode(t, open, 0o777|fs.ModeSticky)
	if err := CheckHome(home, os.Geteuid()); err != nil {
		t.Fatalf("under a sticky directory: %v", err)
	}

	// A symlinked home is judged where it leads as well.
	target := mkdirMode(t, filepath.Join(t.TempDir(), "open", "home"), 0o700)
	mkdirMode(t, filepath.Dir(target), 0o777)
	link := filepath.Join(t.TempDir(), "home")
	symlinkOrSkip(t, target, link)
	wantUnsafe(t, CheckHome(link, os.Geteuid()), filepath.Dir(target)+", above the agent's home "+link)
}

// A home not made yet is judged by the directories it would be made in:
// under one anyone may write, it could be swapped between the check and
// the mkdir, and nothing may be created there.
func TestCheckHomeNotYetMadeUnderOpenDirectory(t *testing.T) {
	open := mkdirMode(t, filepath.Join(t.TempDir(), "shared"), 0o777)
	home := filepath.Join(open, "a", "home") // neither a nor home exists
	wantUnsafe(t, CheckHome(home, os.Geteuid()), open+", above the agent's home "+home+", is writable by other users")
	err := SaveCache(filepath.Join(home, "token.json"), sampleCache(t))
	wantUnsafe(t, err, open+", above the agent's home")
	if _, err := os.Stat(filepath.Join(open, "a")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SaveCache made directories under %s: %v", open, err)
	}
	mkdirMode(t, open, 0o755)
	if err := CheckHome(home, os.Geteuid()); err != nil {
		t.Fatalf("under a private directory: %v", err)
	}
}

func TestCheckHomeOwnedByAnother(t *testing.T) {
	needRoot(t)
	home := mkdirMode(t, filepath.Join(t.TempDir(), "home"), 0o700)
	if err := os.Chown(home, otherUID, -1); err != nil {
		t.Fatal(err)
	}
	wantUnsafe(t, CheckHome(home, 0), fmt.Sprintf("%s is owned by uid %d, not you (uid 0): run chown 0 %s", home, otherUID, home))
	if err := CheckHome(home, otherUID); err != nil {
		t.Fatalf("for its owner: %v", err)
	}

	// A parent owned by another user (not root) could replace the home.
	parent := filepath.Dir(home)
	if err := os.Chown(parent, otherUID, -1); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, 0, -1); err != nil {
		t.Fatal(err)
	}
	wantUnsafe(t, CheckHome(home, 0), fmt.Sprintf("%s, above the agent's home %s, is owned by uid %d", parent, home, otherUID))
}

func TestLoadCacheRefusesAnotherUsersFile(t *testing.T) {
	needRoot(t)
	home := mkdirMode(t, filepath.Join(t.TempDir(), "home"), 0o700)
	path := CachePath(home, "")
	c := sampleCache(t)
	writeRaw(t, path, cacheJSON(t, c), 0o600)
	if err := os.Chown(path, otherUID, -1); err != nil {
		t.Fatal(err)
	}
	_, err := LoadCache(path)
	wantUnsafe(t, err, fmt.Sprintf("token file %s is owned by uid %d, not you (uid 0)", path, otherUID), "chown 0 "+path)
	if strings.Contains(err.Error(), c.Token) {
		t.Fatalf("error %q echoes the token", err)
	}
	if err := os.Chown(path, 0, -1); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCache(path); err != nil {
		t.Fatalf("after chown: %v", err)
	}
}

func TestLoadAndSaveCacheRefuseOpenHome(t *testing.T) {
	home := mkdirMode(t, filepath.Join(t.TempDir(), "home"), 0o700)
	path := CachePath(home, "")
	c := sampleCache(t)
	if err := SaveCache(path, c); err != nil {
		t.Fatal(err)
	}
	mkdirMode(t, home, 0o777)
	_, err := LoadCache(path)
	wantUnsafe(t, err, "writable by other users (mode 0777)")
	// SaveCache neither writes nor quietly tightens it: the owner should
	// know the directory was open.
	wantUnsafe(t, SaveCache(path, c), "writable by other users (mode 0777)")
	if got := perm(t, home); got != 0o777 {
		t.Fatalf("SaveCache changed the home's mode to %04o", got)
	}
}
