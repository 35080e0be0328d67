package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/urfave/cli/v2"
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
		Action: func(c *cli.Context) error { return serveBare(c.Context, c.String("addr")) },
	}
}

// serveBare answers POST /api/agents/{id}/heartbeat with 204 and GET
// /healthz with 200 until ctx ends. The http.Server timeouts match
// argus-server's so connection handling is the same on both sides.
func serveBare(ctx context.Context, addr string) error {
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
	hs := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
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
	proc *proc
}

// startBare re-executes this binary as bare-204 on a free loopback port.
func startBare(ctx context.Context, logs io.Writer, readyWithin time.Duration) (*bareServer, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find this binary to start the baseline: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := startProc(ctx, "bare-204", logs, nil, self, "bare-204", "--addr", addr)
	if err != nil {
		return nil, err
	}
	b := &bareServer{URL: "http://" + addr, proc: p}
	if err := waitReady(ctx, p, b.URL+"/healthz", readyWithin); err != nil {
		p.Stop()
		return nil, err
	}
	return b, nil
}

// Stop ends the baseline and waits for it.
func (b *bareServer) Stop() { b.proc.Stop() }
