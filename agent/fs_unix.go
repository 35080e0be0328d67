//go:build unix

package agent

import (
	"fmt"
	"os"
	"syscall"

	"github.com/argus-exec/argus/internal/atomicfile"
	"github.com/argus-exec/argus/token"
)

// privateDir makes sure dir exists, is a real directory (not a symlink)
// owned by this user, and is closed to everyone else: the journal decides
// what runs, and run logs hold users' output.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	sys, _ := st.Sys().(*syscall.Stat_t)
	switch {
	case !st.IsDir():
		return fmt.Errorf("%s is not a directory (a symlink?): remove it and restart", dir)
	case sys != nil && int(sys.Uid) != os.Geteuid():
		return token.Unsafef("%s belongs to another user: use a --home of your own", dir)
	case st.Mode().Perm()&0o077 != 0:
		return token.Unsafef("%s is open to other users (mode %04o): run chmod 700 %s", dir, st.Mode().Perm(), dir)
	}
	return atomicfile.SyncDir(dir)
}

// lockState holds an exclusive lock on the identity's state directory for
// the agent's lifetime: two agents on one journal could each start a
// redelivered command.
func lockState(dir string) (release func(), err error) {
	f, err := os.OpenFile(dir+"/lock", os.O_CREATE|os.O_RDWR|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another argus-agent is already running with this --home and --label (%s is locked)", dir)
	}
	return func() { f.Close() }, nil
}
