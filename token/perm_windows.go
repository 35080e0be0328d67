//go:build windows

package token

import (
	"errors"
	"io/fs"
)

// On Windows nothing is checked: files and directories under the user's
// profile are protected by the profile's ACL, Unix mode bits mean nothing
// there, and the agent does not read ACLs or owner SIDs. A home outside
// the profile is the operator's to protect.

func checkPrivate(path string, st fs.FileInfo, uid int) error { return nil }

func checkHome(home string, uid int) error { return nil }

// FileOwner has no uid to report on Windows.
func FileOwner(path string) (int, error) {
	return -1, errors.New("file owners are not checked on Windows")
}
