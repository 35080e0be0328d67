package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a child gets to exit after SIGTERM before it is
// killed; argus-server needs a moment to close its database cleanly.
const stopGrace = 10 * time.Second

// proc is a child process that this benchmark started and must stop.
type proc struct {
	name   string
	cmd    *exec.Cmd
	cancel context.CancelFunc
	done   chan struct{} // closed once Wait has returned
	err    error         // Wait's result, valid after done
}

// startProc starts argv as a child that ends when ctx does or Stop is
// called, whichever comes first. env is added to this process's
// environment (see childEnv). Its stdout and stderr go to logs so a crash
// explains itself.
func startProc(ctx context.Context, name string, logs io.Writer, env []string, argv ...string) (*proc, error) {
	pctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(pctx, argv[0], argv[1:]...)
	// A polite SIGTERM first: both servers shut down gracefully on it.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopGrace
	cmd.Env = childEnv(env)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, cancel: cancel, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Stop ends the child and waits for it. Safe to call more than once.
func (p *proc) Stop() {
	p.cancel()
	<-p.done
}

// exited reports the child's end, for polls that should not wait out
// their deadline on a server that already crashed.
func (p *proc) exited() error {
	select {
	case <-p.done:
		if p.err == nil {
			return fmt.Errorf("%s exited early", p.name)
		}
		return fmt.Errorf("%s exited early: %w", p.name, p.err)
	default:
		return nil
	}
}

// waitReady polls url until it answers 200, the child dies, or the
// deadline passes.
func waitReady(ctx context.Context, p *proc, url string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if err := p.exited(); err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s not ready at %s within %s: %v", p.name, url, within, last)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// sleepCtx sleeps for d unless ctx ends first; false when it did.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// freeAddr picks a loopback port that is free now. Another process could
// take it before the child binds it; the child then fails to listen and
// waitReady reports that at once.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// output runs argv to completion and returns its trimmed stdout; stderr
// is folded into the error when it fails.
func output(ctx context.Context, argv ...string) (string, error) {
	return outputEnv(ctx, nil, argv...)
}

// outputEnv is output with env added to the child's environment.
func outputEnv(ctx context.Context, env []string, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = childEnv(env)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// childEnv is this process's environment without its ARGUS_ variables,
// plus env. The binaries read their settings from ARGUS_ variables
// (ARGUS_AGENT_CONFIG, ARGUS_AGENT_HOME, ARGUS_TOKEN…): a caller's own
// would otherwise reconfigure the children the benchmark means to control.
func childEnv(env []string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ARGUS_") {
			out = append(out, kv)
		}
	}
	return append(out, env...)
}

// prefixWriter labels a child's log lines so two servers' output can be
// told apart on one terminal.
type prefixWriter struct {
	prefix string
	w      io.Writer
}

func (p prefixWriter) Write(b []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line == "" {
			continue
		}
		if _, err := io.WriteString(p.w, p.prefix+line); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}
