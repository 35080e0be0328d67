package sqlite

import "io/fs"

// privateFile has nothing to do on Windows, where a new file takes its
// directory's access list (a user's profile is private already).
func privateFile(string) error { return nil }

// checkDirPrivate is not checked on Windows: mode bits do not describe an
// access list.
func checkDirPrivate(string, fs.FileInfo) error { return nil }
