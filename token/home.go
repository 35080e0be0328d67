package token

import (
	"errors"
	"fmt"
)

// ErrUnsafe marks a home directory, state directory or token file that
// other local users could read or change. The daemon takes its server URL
// and its identity from the token file, so whoever can write it (or swap
// the directory that holds it) can point the agent at a server of their
// own. Restarting cannot fix it: the agent's CLI exits with the same
// no-restart status as for a rejected token.
var ErrUnsafe = errors.New("unsafe permissions")

type unsafeError struct{ msg string }

func (e unsafeError) Error() string        { return e.msg }
func (e unsafeError) Is(target error) bool { return target == ErrUnsafe }

// Unsafef formats an error that matches ErrUnsafe, for the permission
// checks of the agent's own directories.
func Unsafef(format string, args ...any) error {
	return unsafeError{msg: fmt.Sprintf(format, args...)}
}

// CheckHome refuses an agent home directory that anyone but uid (the user
// the agent runs as) could change: see checkHome for the platform's rule.
// A home that does not exist yet passes; whoever creates it makes it 0700.
func CheckHome(home string, uid int) error {
	return checkHome(home, uid)
}
