package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/argus-exec/argus/internal/testenv"
)

// bareCommand is the baseline server: net/http and nothing else. It runs
// in a process of its own, re-executed from this binary, so it competes
// for the CPU exactly as argus-server does and never shares a runtime with
// the load generator.
func bareCommand() *cli.Command {
	return &cli.Command{
		Name:   "bare-204",
		Usage:  "serve a bare net/http handler answering 204 to heartbeats (baseline; started by the benchmarks)",
		Hidden: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Required: true, Usage: "host:port to listen on"},
		},
		Action: func(c *cli.Context) error { return serveBare(c.Context, c.App.Writer, c.String("addr")) },
	}
}

// serveBare logs where it listens on w, then answers POST /api/agents/{id}/heartbeat with 204 and GET
// /healthz with 200 until ctx ends. The http.Server timeouts match
// argus-server's so connection handling is the same on both sides.
func serveBare(ctx context.Context, w io.Writer, addr string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/agents/{agent_id}/heartbeat", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	line, err := json.Marshal(map[string]string{"message": listeningMsg, "addr": ln.Addr().String()})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s\n", line)
	hs := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 30 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// bareServer is a running bare-204 child.
type bareServer struct {
	URL  string
	proc *testenv.Proc
}

// listeningMsg is the log line bare-204 names its address in, shaped as
// argus-server's so both are found the same way.
const listeningMsg = "bare-204 listening"

// startBare re-executes this binary as bare-204 on a loopback port the
// kernel picks, and reads which from the line it logs, as for argus-server.
func startBare(ctx context.Context, dir string, logs io.Writer, readyWithin time.Duration) (*bareServer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this binary to start the baseline: %w", err)
	}
	logPath := filepath.Join(dir, "bare-204.log")
	p, err := testenv.Start(testenv.Spec{
		Name: "bare-204", Argv: []string{self, "bare-204", "--addr", "127.0.0.1:0"},
		LogPath: logPath, Log: logs,
	})
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, readyWithin)
	defer cancel()
	addr, _, err := testenv.AddrFromLog(wctx, p, logPath, 0, listeningMsg)
	if err != nil {
		p.Stop()
		return nil, fmt.Errorf("bare-204 not ready: %w", err)
	}
	return &bareServer{URL: "http://" + addr, proc: p}, nil
}

// Stop ends the baseline and waits for it.
func (b *bareServer) Stop() { b.proc.Stop() }
