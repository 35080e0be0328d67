package supervise

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"

	"github.com/argus-exec/argus/agent/internal/proc"
)

// A supervisor is the agent's whole executable: the Go runtime and the
// package inits before this package's take tens of milliseconds on a busy
// host, against a few for the run's own fork and exec. That would sit on
// the path from a rerun to its PID, so one supervisor is started ahead of
// need (Warm) and waits, blocked reading its stdin, for a command: Start
// hands it one and has the next spare started behind it. An idle spare
// costs one sleeping process; when the agent exits its stdin closes, and
// the spare exits without a word (supervise, on an empty stdin).

// supervisor is a started supervisor that has not been given a command.
type supervisor struct {
	self   proc.Process // read at spawn, off the path from a rerun to its PID
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
}

// spare is the one supervisor kept ready; filling: one is being started.
var spare struct {
	sync.Mutex
	s       *supervisor
	filling bool
}

// Warm has a spare supervisor started in the background, unless one is
// ready or on its way.
func Warm() {
	spare.Lock()
	if spare.s != nil || spare.filling {
		spare.Unlock()
		return
	}
	spare.filling = true
	spare.Unlock()
	go func() {
		s, err := spawn()
		spare.Lock()
		defer spare.Unlock()
		spare.filling = false
		if err == nil {
			spare.s = s
		}
	}()
}

// Drop ends the spare, if there is one: it sees its stdin close and
// exits, and is reaped here. For an agent that stops but whose process
// goes on (tests); an exiting agent needs no Drop.
func Drop() {
	spare.Lock()
	s := spare.s
	spare.s = nil
	spare.Unlock()
	if s != nil {
		_ = s.stdin.Close()
		_ = s.cmd.Wait()
	}
}

// take returns the spare, or a new supervisor when there is none ready.
// The next spare is Start's to order, once the run has started: its
// start-up would otherwise compete with the run's for the CPU.
func take() (*supervisor, error) {
	spare.Lock()
	s := spare.s
	spare.s = nil
	spare.Unlock()
	if s != nil {
		return s, nil
	}
	return spawn()
}

// spawn starts a supervisor, which then waits for its command.
func spawn() (*supervisor, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the agent's executable to supervise the run: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), EnvSupervise+"=1")
	// Not the agent's cwd: the supervisor must not hold a directory busy
	// (an unmount, a removed home) for as long as the run lasts.
	cmd.Dir = string(os.PathSeparator)
	cmd.SysProcAttr = proc.DetachedAttr()
	stdin, err := cmd.StdinPipe() // the command, never argv: argv is world-readable
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the run's supervisor: %w", err)
	}
	// Still this process's unreaped child: its PID is its own.
	self := proc.Identify(cmd.Process.Pid)
	return &supervisor{self: self, cmd: cmd, stdin: stdin, stdout: stdout}, nil
}

// send gives the supervisor its command; an error means it never got it
// (a spare that died meanwhile), and it is reaped.
func (s *supervisor) send(req []byte) error {
	_, err := s.stdin.Write(req)
	if cerr := s.stdin.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.kill()
		return fmt.Errorf("hand the run to its supervisor: %w", err)
	}
	return nil
}

// kill ends a supervisor that is of no use and reaps it.
func (s *supervisor) kill() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}
