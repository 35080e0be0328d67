package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/argus-exec/argus/server/api"
)

// argusConfig says which argus-server binary to run and where.
type argusConfig struct {
	ServeArgs []string // extra flags for argus-server serve
	// Bin is a prebuilt argus-server; empty means build ./cmd/argus-server
	// of the module this command is run in.
	Bin string
	// Dir holds the built binary and the database; the caller removes it.
	Dir string
	// Logs receives the server's own output.
	Logs io.Writer
	// ReadyWithin bounds the wait for /healthz after start.
	ReadyWithin time.Duration
}

// argusServer is a running argus-server child with one user.
type argusServer struct {
	URL       string
	UserToken string
	proc      *proc
}

// startArgus builds the binary if asked to, creates a user in a fresh
// SQLite file with the binary's own admin command, and serves it on a free
// loopback port: the same steps an operator takes.
func startArgus(ctx context.Context, cfg argusConfig) (*argusServer, error) {
	bin := cfg.Bin
	if bin == "" {
		var err error
		if bin, err = buildBinary(ctx, cfg.Dir, "argus-server", "--server-bin"); err != nil {
			return nil, err
		}
	}
	db := filepath.Join(cfg.Dir, "bench.db")
	tok, err := output(ctx, bin, "user", "create", "--db", db, "bench")
	if err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// warn keeps the access log (one info line per request) off: writing
	// it to a terminal would measure the terminal, not the server. Set
	// through the environment, which every version of the CLI reads
	// whether the flag is global or belongs to serve.
	p, err := startProc(ctx, "argus-server", cfg.Logs,
		[]string{"ARGUS_LOG_LEVEL=warn", "ARGUS_LOG_FORMAT=json"},
		append([]string{bin, "serve", "--addr", addr, "--db", db}, cfg.ServeArgs...)...)
	if err != nil {
		return nil, err
	}
	a := &argusServer{URL: "http://" + addr, UserToken: tok, proc: p}
	if err := waitReady(ctx, p, a.URL+"/healthz", cfg.ReadyWithin); err != nil {
		p.Stop()
		return nil, err
	}
	return a, nil
}

// Stop ends the server and waits for it to close its database.
func (a *argusServer) Stop() { a.proc.Stop() }

// buildBinary compiles ./cmd/<name> of the current module into dir, so the
// benchmark runs what an operator would deploy. flag names the option that
// runs a prebuilt binary instead, for the error when there is no module.
func buildBinary(ctx context.Context, dir, name, flag string) (string, error) {
	gomod, err := output(ctx, "go", "env", "GOMOD")
	if err != nil {
		return "", fmt.Errorf("find the module to build %s from: %w", name, err)
	}
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the argus module: run from the repository or pass %s", flag)
	}
	root := filepath.Dir(gomod)
	if _, err := os.Stat(filepath.Join(root, "cmd", name)); err != nil {
		return "", fmt.Errorf("module %s has no cmd/%s: run from the argus repository or pass %s", root, name, flag)
	}
	bin := filepath.Join(dir, name)
	if _, err := output(ctx, "go", "-C", root, "build", "-o", bin, "./cmd/"+name); err != nil {
		return "", fmt.Errorf("build %s: %w", name, err)
	}
	return bin, nil
}

// registerAgent registers a host the way argus-agent --register does and
// returns the agent id and its ag_live_ token.
func (a *argusServer) registerAgent(ctx context.Context, hostname string) (api.RegisterResponse, error) {
	var reg api.RegisterResponse
	body, err := json.Marshal(api.RegisterRequest{Hostname: hostname, OS: "linux", Arch: "amd64", Version: "bench"})
	if err != nil {
		return reg, err
	}
	if err := a.call(ctx, http.MethodPost, "/api/agents/register", a.UserToken, body, http.StatusCreated, &reg); err != nil {
		return reg, fmt.Errorf("register agent: %w", err)
	}
	if reg.AgentID == "" || reg.Token == "" {
		return reg, errors.New("register agent: answer has no agent_id or token")
	}
	return reg, nil
}

// call sends one request and decodes the answer into out (when not nil),
// failing unless the status is want.
func (a *argusServer) call(ctx context.Context, method, path, tok string, body []byte, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, a.URL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d %s, want %d", method, path, resp.StatusCode, bytes.TrimSpace(data), want)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}
