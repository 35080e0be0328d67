package proc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Command is a run to start.
type Command struct {
	RunID string
	// Argv is run as is; a bare argv[0] is looked up in the run's own
	// PATH (Env), not the agent's. When Argv is empty, Shell is run by
	// /bin/sh -c, or on Windows by the recorded ComSpec (cmd.exe) /c.
	Argv  []string
	Shell string
	Dir   string
	// Env is the run's whole environment; it must hold EnvRunID=RunID.
	Env []string
	// LogPath receives the run's stdout and stderr, appended; it is
	// created 0600 and never opened through a symlink (Unix).
	LogPath string
}

// Child is a run this process (a run's supervisor, package supervise)
// started and has not reaped yet.
type Child struct {
	Process
	cmd *exec.Cmd
}

// Start starts a run as the package comment describes. Its leader's start
// time is read at once; a Process.StartTime of 0 means it could not be.
func Start(c Command) (*Child, error) {
	argv, cmdLine := c.Argv, ""
	if len(argv) == 0 {
		argv, cmdLine = shellCommand(c.Shell, c.Env)
	}
	path, err := lookPath(argv[0], c.Env)
	if err != nil {
		return nil, err
	}
	out, err := openLog(c.LogPath)
	if err != nil {
		return nil, fmt.Errorf("open run log: %w", err)
	}
	defer out.Close() // the child holds its own descriptor
	cmd := &exec.Cmd{Path: path, Args: argv, Dir: c.Dir, Env: c.Env, Stdout: out, Stderr: out}
	// Output goes to a file, not a pipe, so no copy goroutine can hang
	// Wait; WaitDelay bounds it anyway should that ever change.
	cmd.WaitDelay = 5 * time.Second
	if err := prepareRun(cmd, cmdLine); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if err := afterStart(cmd, c.RunID); err != nil {
		// A run that Stop could not end as a whole is not left running.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, err
	}
	pid := cmd.Process.Pid
	ticks, _ := startTime(pid)
	return &Child{Process: Process{PID: pid, Group: pid, StartTime: ticks}, cmd: cmd}, nil
}

// Wait reaps the run's leader and says how it ended: an exit code, or the
// name of the signal that ended it (on Windows, what a stop's CTRL_BREAK
// or job kill stands for). Both are empty when that cannot be known.
func (c *Child) Wait() (code *int, signal string) {
	_ = c.cmd.Wait() // the exit status is in ProcessState
	if c.cmd.ProcessState == nil {
		return nil, ""
	}
	return exitOf(c.cmd.ProcessState)
}

// lookPath resolves a bare command name against the run's own PATH, not
// the agent's: the recorded environment is what the command ran with.
// (Windows also tries the recorded PATHEXT extensions; see exec_*.go.)
func lookPath(name string, env []string) (string, error) {
	if strings.ContainsAny(name, pathSeparators) {
		return name, nil
	}
	pathVar, _ := lookupEnv(env, "PATH", EnvCaseInsensitive)
	for _, dir := range filepath.SplitList(pathVar) {
		if dir == "" {
			dir = "."
		}
		for _, p := range exeCandidates(filepath.Join(dir, name), env) {
			if st, err := os.Stat(p); err == nil && !st.IsDir() && isExecutable(st) {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("%s: command not found in the recorded PATH", name)
}

// lookupEnv finds key in a KEY=value list; the last entry wins, as it does
// for exec. fold matches keys regardless of case, as Windows does (Path
// and PATH are one variable there).
func lookupEnv(env []string, key string, fold bool) (string, bool) {
	val, found := "", false
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if ok && (k == key || fold && strings.EqualFold(k, key)) {
			val, found = v, true
		}
	}
	return val, found
}
