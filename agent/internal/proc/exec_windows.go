//go:build windows

package proc

import "os"

// EnvCaseInsensitive reports whether environment variable names ignore
// case on this platform. On Windows they do: Path and PATH are one.
const EnvCaseInsensitive = true

// How a run's command is found and started on Windows (see exec_unix.go).

// pathSeparators: C:x, C:\x and ./x are all paths, as os/exec sees it.
const pathSeparators = `:\/`

// exeCandidates adds the recorded PATHEXT extensions to a bare name:
// "python" is python.exe, as it was when the command was recorded.
func exeCandidates(path string, env []string) []string {
	pathExt, _ := lookupEnv(env, "PATHEXT", EnvCaseInsensitive)
	return windowsExeCandidates(path, pathExt)
}

// isExecutable: Windows has no execute bit; the extension (exeCandidates)
// is what makes a file runnable.
func isExecutable(st os.FileInfo) bool { return true }

// openLog opens a run's log for appending (the profile's ACL keeps it
// private; Windows has no O_NOFOLLOW to ask for).
func openLog(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
}

// shellCommand runs a recorded shell string with the recorded ComSpec
// (cmd.exe), falling back to the agent's, with a raw command line.
func shellCommand(shell string, env []string) (argv []string, cmdLine string) {
	comspec, ok := lookupEnv(env, "ComSpec", EnvCaseInsensitive)
	if !ok || comspec == "" {
		comspec = os.Getenv("ComSpec")
	}
	if comspec == "" {
		comspec = `C:\Windows\System32\cmd.exe`
	}
	return windowsShell(comspec, shell)
}
