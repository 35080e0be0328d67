package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a child gets between SIGTERM and SIGKILL when the
// harness stops it: argus-server closes its database, the agent its loops.
const stopGrace = 10 * time.Second

// Spec describes one child process.
type Spec struct {
	Name string   // for messages; default the binary's base name
	Argv []string // binary and arguments
	// Env is added to this process's environment minus its ARGUS_
	// variables (see ChildEnv).
	Env []string
	Dir string
	// LogPath is a file that receives stdout and stderr (no copying
	// goroutine, so a test may read it at any time); Log a writer that
	// receives them too, e.g. a terminal.
	Log     io.Writer
	LogPath string
	// Attr is set on the child, e.g. to put it in its own process group.
	// The default, on Linux, has the kernel kill the child when this
	// process dies, so a killed test or benchmark leaves no server behind.
	Attr *syscall.SysProcAttr
}

// Proc is a running child process.
type Proc struct {
	Name    string
	Cmd     *exec.Cmd
	Started time.Time // just before the process was started
	logPath string
	logFrom int64         // where this process's output begins in logPath
	done    chan struct{} // closed once Wait has returned
	err     error         // Wait's result, valid after done
}

// Start starts the child. It is not tied to a context: the caller stops it
// with Stop or Kill (the T helpers do so in Cleanup).
func Start(spec Spec) (*Proc, error) {
	if len(spec.Argv) == 0 {
		return nil, errors.New("testenv.Start: no argv")
	}
	p := &Proc{Name: spec.Name, logPath: spec.LogPath, done: make(chan struct{})}
	if p.Name == "" {
		p.Name = baseName(spec.Argv[0])
	}
	cmd := exec.Command(spec.Argv[0], spec.Argv[1:]...)
	cmd.Env, cmd.Dir, cmd.SysProcAttr = ChildEnv(spec.Env), spec.Dir, spec.Attr
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = orphanAttr()
	}
	// A grandchild holding the output pipe must not hold up Wait (and so
	// Stop and Kill) once the child itself has exited.
	cmd.WaitDelay = 5 * time.Second
	var logFile *os.File
	if spec.LogPath != "" {
		f, err := os.OpenFile(spec.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return nil, err
		}
		// A restart appends to the same file: Output shows this run's part.
		if st, err := f.Stat(); err == nil {
			p.logFrom = st.Size()
		}
		logFile = f
		cmd.Stdout, cmd.Stderr = f, f
	}
	if spec.Log != nil {
		var w io.Writer = spec.Log
		if logFile != nil {
			w = io.MultiWriter(logFile, spec.Log)
		}
		cmd.Stdout, cmd.Stderr = w, w
	}
	p.Started = time.Now()
	if err := cmd.Start(); err != nil {
		if logFile != nil {
			logFile.Close()
		}
		return nil, fmt.Errorf("start %s: %w", p.Name, err)
	}
	p.Cmd = cmd
	go func() {
		p.err = cmd.Wait()
		if logFile != nil {
			logFile.Close()
		}
		close(p.done)
	}()
	return p, nil
}

// PID is the child's process id.
func (p *Proc) PID() int { return p.Cmd.Process.Pid }

// Done is closed when the child has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports the child's end without waiting: nil while it runs.
func (p *Proc) Exited() error {
	select {
	case <-p.done:
		if p.err == nil {
			return fmt.Errorf("%s exited", p.Name)
		}
		return fmt.Errorf("%s exited: %w", p.Name, p.err)
	default:
		return nil
	}
}

// Wait waits up to within for the child to exit and returns its exit code
// (-1 for a signal death).
func (p *Proc) Wait(within time.Duration) (int, error) {
	select {
	case <-p.done:
		return p.Cmd.ProcessState.ExitCode(), nil
	case <-time.After(within):
		return 0, fmt.Errorf("%s still running after %v", p.Name, within)
	}
}

// Signal sends sig to the child (not its group).
func (p *Proc) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// Stop sends SIGTERM, waits up to the grace period, then kills. Safe to
// call more than once and after the child exited.
func (p *Proc) Stop() {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		p.Kill()
	}
}

// Kill kills the child at once and waits for it.
func (p *Proc) Kill() {
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// Output is what this child has written so far to its log file ("" when
// its output goes only to a writer); an earlier process's output in the
// same file is not part of it.
func (p *Proc) Output() string {
	if p.logPath == "" {
		return ""
	}
	data, _ := os.ReadFile(p.logPath)
	if p.logFrom > int64(len(data)) {
		return ""
	}
	return string(data[p.logFrom:])
}

// Result is a command run to completion.
type Result struct {
	Code           int
	Stdout, Stderr string
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %q\nstderr: %q", r.Code, r.Stdout, r.Stderr)
}

// RunSpec is a command to run to completion.
type RunSpec struct {
	Argv []string
	Env  []string // added to the environment minus ARGUS_ variables
	// EnvOnly makes Env the whole environment, for a test that checks
	// exactly what a CLI saw.
	EnvOnly bool
	Dir     string
	Stdin   string
}

// Run runs a command to completion under ctx (which should carry a
// deadline, so a hung CLI fails instead of stalling). A non-zero exit is
// a Result, not an error; an error is a command that could not run or did
// not end in time.
func Run(ctx context.Context, spec RunSpec) (Result, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, spec.Argv[0], spec.Argv[1:]...)
	cmd.Env, cmd.Dir = ChildEnv(spec.Env), spec.Dir
	if spec.EnvOnly {
		cmd.Env = spec.Env
	}
	cmd.Stdin = strings.NewReader(spec.Stdin)
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	res := Result{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return res, fmt.Errorf("%s %v: no exit in time (%v)\n%s", baseName(spec.Argv[0]), spec.Argv[1:], ctx.Err(), res)
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	case err != nil:
		return res, fmt.Errorf("%s: %w", baseName(spec.Argv[0]), err)
	}
	return res, nil
}

// ChildEnv is this process's environment without its ARGUS_ variables,
// plus env: the binaries read their settings from ARGUS_ variables
// (ARGUS_TOKEN, ARGUS_URL, ARGUS_AGENT_HOME…), and a developer's own would
// otherwise reconfigure the children a test means to control.
func ChildEnv(env []string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ARGUS_") {
			out = append(out, kv)
		}
	}
	return append(out, env...)
}

func baseName(path string) string {
	return path[strings.LastIndexAny(path, `/\`)+1:]
}
