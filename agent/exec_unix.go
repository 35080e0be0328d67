//go:build unix

package agent

import "os"

// How a run's command is found and started on Unix (Windows differs in
// each; see exec_windows.go).
const (
	// pathSeparators: a command name holding one is a path, not looked up.
	pathSeparators = "/"
	// envFold: environment keys are case-sensitive.
	envFold = false
)

// exeCandidates is the file itself: Unix needs no extension to run it.
func exeCandidates(path string, env []string) []string { return []string{path} }

// isExecutable: some execute bit is set.
func isExecutable(st os.FileInfo) bool { return st.Mode()&0o111 != 0 }

// shellCommand runs a recorded shell string with /bin/sh; no raw command
// line is needed (that is a Windows notion).
func shellCommand(shell string, env []string) (argv []string, cmdLine string) {
	return []string{"/bin/sh", "-c", shell}, ""
}
