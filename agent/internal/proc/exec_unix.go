//go:build unix

package proc

import (
	"os"
	"syscall"
)

// EnvCaseInsensitive reports whether environment variable names ignore
// case on this platform. Not on Unix: PATH and Path are two variables.
const EnvCaseInsensitive = false

// How a run's command is found and started on Unix (Windows differs in
// each; see exec_windows.go).

// pathSeparators: a command name holding one is a path, not looked up.
const pathSeparators = "/"

// exeCandidates is the file itself: Unix needs no extension to run it.
func exeCandidates(path string, env []string) []string { return []string{path} }

// isExecutable: some execute bit is set.
func isExecutable(st os.FileInfo) bool { return st.Mode()&0o111 != 0 }

// openLog opens a run's log for appending, never through a symlink: the
// logs directory is the agent's, but a link planted there must not make a
// run write where it points.
func openLog(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|syscall.O_NOFOLLOW, 0o600)
}

// shellCommand runs a recorded shell string with /bin/sh; no raw command
// line is needed (that is a Windows notion).
func shellCommand(shell string, env []string) (argv []string, cmdLine string) {
	return []string{"/bin/sh", "-c", shell}, ""
}
