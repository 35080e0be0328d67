//go:build unix

package token

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// checkPrivate refuses a token file that is not uid's or whose mode lets
// group or others in.
func checkPrivate(path string, st fs.FileInfo, uid int) error {
	if owner, ok := ownerOf(st); ok && owner != uid {
		return Unsafef("token file %s is owned by uid %d, not you (uid %d), so its owner chooses the server this agent obeys: run chown %d %s, or use a --home of your own",
			path, owner, uid, uid, path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return Unsafef("token file %s has mode %04o and others can read it: run chmod 600 %s (and consider revoking the token)",
			path, st.Mode().Perm(), path)
	}
	return nil
}

// FileOwner returns the uid that owns path (following symlinks).
func FileOwner(path string) (int, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	owner, ok := ownerOf(st)
	if !ok {
		return 0, fmt.Errorf("cannot tell who owns %s", path)
	}
	return owner, nil
}

func ownerOf(st fs.FileInfo) (int, bool) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(sys.Uid), true
}

// checkHome refuses a home that is not a directory, is owned by anyone but
// uid, or that group or others may write to (whatever its sticky bit: a
// shared /tmp is no home). Reading is fine: the token file and the state
// directory are private themselves. It also refuses a home under a
// directory that another user could rename it out of: one that group or
// others may write without the sticky bit, or one owned by a user other
// than uid and root. Both the path as given and the one its symlinks lead
// to are checked, as ssh does for ~/.ssh.
func checkHome(home string, uid int) error {
	st, err := os.Stat(home)
	if errors.Is(err, fs.ErrNotExist) {
		// Not made yet: the directories it will be made in must already be
		// safe, or whoever may write them could swap it in between.
		return checkAncestors(home, uid)
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return Unsafef("%s is not a directory: remove it, or use another --home", home)
	}
	if err := checkDirOwner(home, st, uid); err != nil {
		return err
	}
	if st.Mode().Perm()&0o022 != 0 {
		return Unsafef("%s is writable by other users (mode %04o): run chmod 700 %s", home, st.Mode().Perm(), home)
	}
	return checkAncestors(home, uid)
}

func checkDirOwner(dir string, st fs.FileInfo, uid int) error {
	if owner, ok := ownerOf(st); ok && owner != uid {
		return Unsafef("%s is owned by uid %d, not you (uid %d): run chown %d %s, or use a --home of your own",
			dir, owner, uid, uid, dir)
	}
	return nil
}

// checkAncestors applies the rule for directories above home. Those that
// do not exist yet are skipped: the agent makes them itself, 0700.
func checkAncestors(home string, uid int) error {
	abs, err := filepath.Abs(home)
	if err != nil {
		return err
	}
	real, err := resolveExisting(abs)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, p := range []string{abs, real} {
		for dir := filepath.Dir(p); !seen[dir]; dir = filepath.Dir(dir) {
			seen[dir] = true
			if err := checkAncestor(dir, home, uid); err != nil {
				return err
			}
		}
	}
	return nil
}

// resolveExisting is filepath.EvalSymlinks for a path whose last parts
// may not exist yet: the existing part is resolved and the rest appended.
func resolveExisting(abs string) (string, error) {
	real, err := filepath.EvalSymlinks(abs)
	if !errors.Is(err, fs.ErrNotExist) || filepath.Dir(abs) == abs {
		return real, err
	}
	parent, err := resolveExisting(filepath.Dir(abs))
	if err != nil {
		return "", err
	}
	return filepath.Join(parent, filepath.Base(abs)), nil
}

func checkAncestor(dir, home string, uid int) error {
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if owner, ok := ownerOf(st); ok && owner != uid && owner != 0 {
		return Unsafef("%s, above the agent's home %s, is owned by uid %d, who could replace the home: use a --home elsewhere",
			dir, home, owner)
	}
	mode := st.Mode()
	if mode.Perm()&0o022 != 0 && mode&fs.ModeSticky == 0 {
		return Unsafef("%s, above the agent's home %s, is writable by other users (mode %04o), who could replace the home: run chmod go-w %s, or use a --home elsewhere",
			dir, home, mode.Perm(), dir)
	}
	return nil
}
