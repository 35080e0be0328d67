package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/argus-exec/argus/internal/testenv"
)

// argusConfig says which argus-server binary to run and where.
type argusConfig struct {
	ServeArgs []string // extra flags for argus-server serve
	// Bin is a prebuilt argus-server; empty means Builder builds
	// ./cmd/argus-server of the module this command is run in.
	Bin     string
	Builder *testenv.Builder
	// Dir holds the database; the caller removes it.
	Dir string
	// DB is --db: a SQLite path or a postgres:// DSN; default Dir/bench.db.
	DB string
	// Users are created, in this order, before the server starts; default
	// one, "bench".
	Users []string
	// Logs receives the server's own output.
	Logs io.Writer
	// ReadyWithin bounds the wait for the server to listen and answer
	// /healthz after start.
	ReadyWithin time.Duration
}

// argusServer is a running argus-server child with its users.
type argusServer struct {
	*testenv.Server
	UserToken  string   // the first user's em_live_ token
	UserTokens []string // every user's, in argusConfig.Users order
}

// startArgus builds the binary if asked to, creates the users (in a fresh
// SQLite file unless told another database) with the binary's own admin
// command, and serves it on a loopback port the kernel picks: the same
// steps an operator takes.
func startArgus(ctx context.Context, cfg argusConfig) (*argusServer, error) {
	bin, err := binary(ctx, cfg.Builder, cfg.Bin, testenv.ServerBin, "--server-bin")
	if err != nil {
		return nil, err
	}
	db := cfg.DB
	if db == "" {
		db = filepath.Join(cfg.Dir, "bench.db")
	}
	users := cfg.Users
	if len(users) == 0 {
		users = []string{"bench"}
	}
	uctx, cancel := context.WithTimeout(ctx, time.Minute+time.Duration(len(users))*time.Second)
	defer cancel()
	toks := make([]string, len(users))
	for i, name := range users {
		if toks[i], err = testenv.CreateUser(uctx, bin, db, name); err != nil {
			return nil, fmt.Errorf("create user %s: %w", name, err)
		}
	}
	// warn keeps the access log (one info line per request) off: writing
	// it to a terminal would measure the terminal, not the server. The
	// line naming the port the server got on 127.0.0.1:0 is written at any
	// level (by argus-server from this version on: an older --server-bin
	// at warn never says where it listens).
	s, err := testenv.StartServer(ctx, testenv.ServerSpec{
		Bin: bin, Dir: cfg.Dir, DB: db, Args: cfg.ServeArgs,
		Env: []string{"ARGUS_LOG_LEVEL=warn"}, Log: cfg.Logs, ReadyWithin: cfg.ReadyWithin,
	})
	if err != nil {
		return nil, err
	}
	return &argusServer{Server: s, UserToken: toks[0], UserTokens: toks}, nil
}

// Stop ends the server and waits for it to close its database.
func (a *argusServer) Stop() { a.Proc.Stop() }

// binary is prebuilt when the user passed one with flag, or else cmd/name
// of the current module built by b, so the benchmark runs what an
// operator would deploy.
func binary(ctx context.Context, b *testenv.Builder, prebuilt, name, flag string) (string, error) {
	if prebuilt != "" {
		return prebuilt, nil
	}
	path, err := b.Build(ctx, name)
	if err != nil {
		return "", fmt.Errorf("build %s (or pass %s): %w", name, flag, err)
	}
	return path, nil
}
