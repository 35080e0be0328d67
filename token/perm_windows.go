//go:build windows

package token

import "io/fs"

// checkPrivate is a no-op on Windows: files under the user's profile are
// protected by the profile's ACL, and Unix mode bits mean nothing there.
func checkPrivate(path string, st fs.FileInfo) error { return nil }
