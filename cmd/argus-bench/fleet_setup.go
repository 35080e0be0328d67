package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
)

// fleet is a running server, its users, and the simulated agents with
// the one batch recorded on each agent's host.
type fleet struct {
	dir    string
	keep   bool
	stderr io.Writer
	server *argusServer
	others []*testenv.Server // more replicas on the same PostgreSQL schema
	schema string            // the PostgreSQL schema; "" on SQLite
	dropDB func()            // drops it
	userTr *http.Transport
	users  []*client.Client // by user, on the first replica
	// byReplica are the users' clients by replica, then by user.
	byReplica [][]*client.Client
	agents    []*simAgent // by host index
	batches   []string    // by host index
	book      *fleetBook
}

// openFleet starts the server with cfg.Users users in a fresh database
// and prints its command line.
func openFleet(ctx context.Context, cfg fleetConfig, stdout, stderr io.Writer) (_ *fleet, err error) {
	dir, err := os.MkdirTemp("", "argus-bench-")
	if err != nil {
		return nil, err
	}
	f := &fleet{dir: dir, keep: cfg.Keep, stderr: stderr, book: newFleetBook()}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	args := slices.Clone(cfg.ServeArgs)
	db := ""
	if cfg.DB != "" {
		if db, f.schema, f.dropDB, err = pgSchema(ctx, cfg.DB); err != nil {
			return nil, err
		}
		// PostgreSQL is for replicas, which must share a session key: the
		// server wants one there.
		if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--session-key") }) {
			args = append(args, "--session-key", randomHex(24))
		}
	}
	names := make([]string, cfg.Users)
	for i := range names {
		names[i] = fmt.Sprintf("bench%03d", i)
	}
	fmt.Fprintf(stderr, "starting argus-server and creating %d user(s)…\n", cfg.Users)
	f.server, err = startArgus(ctx, argusConfig{
		Bin: cfg.ServerBin, Builder: testenv.NewBuilder(dir), ServeArgs: args, Dir: dir, DB: db, Users: names,
		ReadyWithin: cfg.ReadyWithin, Logs: prefixWriter{prefix: "[argus-server] ", w: stderr},
	})
	if err != nil {
		return nil, err
	}
	pid := f.server.Proc.PID()
	fmt.Fprintf(stdout, "server: %s (pid %d, open files %s)\n", serverLine(f.server.Proc.Cmd.Args), pid, fileLimit(pid))
	for range cfg.Replicas - 1 {
		r, err := testenv.StartServer(ctx, testenv.ServerSpec{
			Bin: f.server.Proc.Cmd.Path, Dir: dir, DB: db, Args: args,
			Env: []string{"ARGUS_LOG_LEVEL=warn"}, Log: prefixWriter{prefix: "[argus-server] ", w: stderr}, ReadyWithin: cfg.ReadyWithin,
		})
		if err != nil {
			return nil, err
		}
		f.others = append(f.others, r)
		fmt.Fprintf(stdout, "replica: pid %d on %s\n", r.Proc.PID(), r.URL)
	}

	f.userTr = &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     time.Minute,
	}
	for k := range cfg.Replicas {
		var clients []*client.Client
		for _, tok := range f.server.UserTokens {
			c, err := client.New(f.replica(k).URL, tok, client.Options{RetryMax: -1, Version: "bench", Transport: f.userTr})
			if err != nil {
				return nil, err
			}
			clients = append(clients, c)
		}
		f.byReplica = append(f.byReplica, clients)
	}
	f.users = f.byReplica[0]
	return f, nil
}

// replica is the server agent i talks to: the replicas take the agents
// in turn.
func (f *fleet) replica(i int) *testenv.Server {
	if k := i % (1 + len(f.others)); k > 0 {
		return f.others[k-1]
	}
	return f.server.Server
}

// pids are the server processes: the first, then the other replicas.
func (f *fleet) pids() []int {
	out := []int{f.server.Proc.PID()}
	for _, r := range f.others {
		out = append(out, r.Proc.PID())
	}
	return out
}

// rerunClient is the user client for a rerun of host i's batch: on
// another replica than the one its agent polls, when there are several,
// so every rerun crosses replicas through LISTEN/NOTIFY.
func (f *fleet) rerunClient(i int) *client.Client {
	return f.byReplica[(i+1)%len(f.byReplica)][i%len(f.users)]
}

// populate registers the agents over the API, round-robin over the
// users, and records one batch running `true` in / on each agent's host.
func (f *fleet) populate(ctx context.Context, cfg fleetConfig, stderr io.Writer) error {
	f.agents = make([]*simAgent, cfg.Agents)
	f.batches = make([]string, cfg.Agents)
	fmt.Fprintf(stderr, "registering %d agents…\n", cfg.Agents)
	err := parallel(ctx, cfg.Agents, 8, func(i int) error {
		u := i % len(f.users)
		user := f.users[u]
		host := fmt.Sprintf("sim-%05d", i)
		reg, err := user.Register(ctx, api.RegisterRequest{Hostname: host, OS: "linux", Arch: "amd64", Version: "bench"})
		if err != nil {
			return fmt.Errorf("register %s: %w", host, err)
		}
		var from net.IP
		if !cfg.OneAddress {
			from = agentAddr(i)
		}
		if f.agents[i], err = newSimAgent(f.replica(i).URL, host, reg.AgentID, reg.Token, cfg.Conns, from, f.book); err != nil {
			return err
		}
		b, err := user.CreateBatch(ctx, api.CreateBatchRequest{
			// A project belongs to one user: one project per user.
			Project: fmt.Sprintf("fleet-%03d", u), Name: host,
			EnvSnapshot: api.EnvSnapshot{Command: api.CommandLine{Argv: []string{"true"}}, Cwd: "/", Host: host},
		})
		if err != nil {
			return fmt.Errorf("record a batch on %s: %w", host, err)
		}
		f.batches[i] = b.ID
		f.book.mu.Lock()
		f.book.batchHost[b.ID] = host
		f.book.mu.Unlock()
		return nil
	})
	f.userTr.CloseIdleConnections()
	return err
}

// parallel runs do(0…n-1) on workers goroutines and returns the first
// error, after which no new index is started.
func parallel(ctx context.Context, n, workers int, do func(int) error) error {
	var (
		mu   sync.Mutex
		next int
		err  error
		wg   sync.WaitGroup
	)
	for range min(workers, n) {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				stop := i >= n || err != nil || ctx.Err() != nil
				mu.Unlock()
				if stop {
					return
				}
				if e := do(i); e != nil {
					mu.Lock()
					err = cmpErr(err, e)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return err
}

func cmpErr(first, e error) error {
	if first != nil {
		return first
	}
	return e
}

// Close stops the server, drops the PostgreSQL schema and removes the
// temp dir, unless asked to keep them.
func (f *fleet) Close() {
	for _, r := range f.others {
		r.Proc.Stop()
	}
	if f.server != nil {
		f.server.Stop()
	}
	if f.userTr != nil {
		f.userTr.CloseIdleConnections()
	}
	if f.keep {
		fmt.Fprintf(f.stderr, "kept %s\n", f.dir)
		if f.schema != "" {
			fmt.Fprintf(f.stderr, "kept PostgreSQL schema %s\n", f.schema)
		}
		return
	}
	if f.dropDB != nil {
		f.dropDB()
	}
	os.RemoveAll(f.dir)
}

// pgSchema creates schema argus_bench_<random> in the database of base and
// returns a DSN whose connections use it (search_path), its name, and a
// func that drops it, as server/store/postgres/pgtest does for tests.
func pgSchema(ctx context.Context, base string) (dsn, schema string, drop func(), err error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", "", nil, errors.New("--db must be a postgres:// DSN (SQLite is the default)")
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, base)
	if err != nil {
		return "", "", nil, fmt.Errorf("connect to %s: %w", u.Redacted(), err)
	}
	defer conn.Close(context.Background())
	schema = "argus_bench_" + randomHex(6)
	if _, err := conn.Exec(cctx, "CREATE SCHEMA "+schema); err != nil {
		return "", "", nil, fmt.Errorf("create schema: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	drop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err == nil {
			_, err = c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "argus-bench: drop schema %s: %v\n", schema, err)
		}
	}
	return u.String(), schema, drop, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) //nolint:errcheck // never fails
	return hex.EncodeToString(b)
}

// serverLine is the server's command line for the report: temp paths
// shortened, the session key and any database password left out.
func serverLine(args []string) string {
	argv := slices.Clone(args)
	for i, a := range argv {
		if i > 0 && argv[i-1] == "--session-key" {
			argv[i] = "<random>"
		} else if u, err := url.Parse(a); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
			argv[i] = u.Redacted()
		}
	}
	return agentLine(argv)
}

// fileLimit is the "soft/hard" open-file limit of pid.
func fileLimit(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return "unknown"
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			if f := strings.Fields(rest); len(f) >= 2 {
				return f[0] + "/" + f[1]
			}
		}
	}
	return "unknown"
}
