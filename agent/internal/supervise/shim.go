package supervise

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"

	"github.com/argus-exec/argus/agent/internal/proc"
)

// One supervisor serves an agent: started with the agent (Warm), it takes
// the agent's runs one JSON line each on its stdin and answers on its
// stdout, so a rerun costs the run's own fork and exec and a pipe round
// trip, not the start of a Go program (tens of milliseconds of CPU on a
// busy host). When the agent stops or dies its stdin closes; it starts
// nothing more, and exits once the last of its runs has ended and been
// recorded. A restarted agent starts a supervisor of its own and only
// reads the status files of the runs an earlier one still supervises.

// errNotSent: the supervisor never got the command (it had died), so a new
// one may be given it without any risk of a second start.
var errNotSent = errors.New("the run's supervisor is gone")

// shim is the agent's side of its supervisor.
type shim struct {
	self proc.Process // read at spawn: still this process's unreaped child
	cmd  *exec.Cmd

	mu     sync.Mutex
	stdin  io.WriteCloser
	starts map[string]chan reply    // run id → its start answer
	ends   map[string]chan struct{} // run id → closed at its end (or the supervisor's)
	gone   bool
}

// current is the agent's supervisor.
var current struct {
	sync.Mutex
	s *shim
}

// Warm starts the agent's supervisor unless it runs: ahead of the first
// rerun, so that rerun does not wait for it. An error is left for Start
// to meet again.
func Warm() { _, _ = supervisor() }

// Drop lets the agent's supervisor go: it starts nothing more and exits
// once its runs have ended. For an agent that stops; an exiting agent's
// supervisor sees the same when the agent's end closes the pipe.
func Drop() {
	current.Lock()
	s := current.s
	current.s = nil
	current.Unlock()
	if s != nil {
		s.mu.Lock()
		_ = s.stdin.Close()
		s.mu.Unlock()
	}
}

// supervisor returns the running supervisor, starting one if there is
// none or the last one died.
func supervisor() (*shim, error) {
	current.Lock()
	defer current.Unlock()
	if s := current.s; s != nil && !s.isGone() {
		return s, nil
	}
	s, err := spawn()
	if err != nil {
		return nil, err
	}
	current.s = s
	return s, nil
}

// spawn starts a supervisor and the goroutines that read its answers and
// reap it.
func spawn() (*shim, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the agent's executable to supervise runs: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = supervisorEnv(os.Environ())
	// Not the agent's cwd: the supervisor must not hold a directory busy
	// (an unmount, a removed home) for as long as its runs last.
	cmd.Dir = string(os.PathSeparator)
	cmd.SysProcAttr = proc.DetachedAttr()
	stdin, err := cmd.StdinPipe() // commands, never argv: argv is world-readable
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the runs' supervisor: %w", err)
	}
	s := &shim{
		self: proc.Identify(cmd.Process.Pid), cmd: cmd, stdin: stdin,
		starts: map[string]chan reply{}, ends: map[string]chan struct{}{},
	}
	go s.read(stdout)
	return s, nil
}

// supervisorEnv is the agent's environment for its supervisor, without
// the agent's own ARGUS_ settings (its user token at registration, fault
// hooks in tests): runs get their recorded environment, never this one.
func supervisorEnv(env []string) []string {
	out := []string{EnvSupervise + "=1"}
	for _, kv := range env {
		if !strings.HasPrefix(strings.ToUpper(kv), "ARGUS_") {
			out = append(out, kv)
		}
	}
	return out
}

// read routes the supervisor's answers until it closes its stdout, then
// reaps it and wakes everyone still waiting on it.
func (s *shim) read(stdout io.Reader) {
	dec := json.NewDecoder(stdout)
	for {
		var r reply
		if dec.Decode(&r) != nil {
			break
		}
		s.route(r)
	}
	_ = s.cmd.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gone = true
	for id, ch := range s.starts {
		close(ch)
		delete(s.starts, id)
	}
	for id, ch := range s.ends {
		close(ch)
		delete(s.ends, id)
	}
}

func (s *shim) route(r reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Ended {
		if ch, ok := s.ends[r.ID]; ok {
			close(ch)
			delete(s.ends, r.ID)
		}
		return
	}
	if ch, ok := s.starts[r.ID]; ok {
		ch <- r
		delete(s.starts, r.ID)
	}
	if r.Error != "" {
		delete(s.ends, r.ID) // not started: no end will come
	}
}

func (s *shim) isGone() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gone
}

// send hands the supervisor a command and returns the channels its start
// answer and its end arrive on. errNotSent when it could not have got it.
func (s *shim) send(req request) (<-chan reply, <-chan struct{}, error) {
	data, err := json.Marshal(req)
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone {
		return nil, nil, errNotSent
	}
	started, ended := make(chan reply, 1), make(chan struct{})
	s.starts[req.RunID], s.ends[req.RunID] = started, ended
	// A write that fails leaves at most part of a line, which the
	// supervisor cannot decode and so never starts.
	if _, err := s.stdin.Write(append(data, '\n')); err != nil {
		delete(s.starts, req.RunID)
		delete(s.ends, req.RunID)
		return nil, nil, fmt.Errorf("%w: %v", errNotSent, err)
	}
	return started, ended, nil
}

// kill ends a supervisor that stopped answering; read reaps it.
func (s *shim) kill() { _ = s.cmd.Process.Kill() }
