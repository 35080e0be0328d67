package testenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ServerSpec describes one argus-server serve process.
type ServerSpec struct {
	Bin string // the argus-server binary
	Dir string // holds the log file and, by default, the database
	// DB is --db: a SQLite path or a postgres:// DSN; default Dir/argus.db.
	DB string
	// Addr is --addr; default 127.0.0.1:0, the address being read back
	// from the server's log.
	Addr string
	Args []string // more serve flags
	Env  []string
	// The server's output goes to a server-*.log file in Dir (each server
	// its own, so replicas sharing a Dir keep theirs), and to Log if set.
	Log         io.Writer
	ReadyWithin time.Duration // default 15s
	// CACertFile is the PEM CA the harness trusts for a server run with
	// --tls-cert (pass those in Args).
	CACertFile string
	// Restartable puts a front door the harness owns in front of the
	// server (see frontDoor): URL stays the same across Restart, which
	// starts the server on a new port behind it.
	Restartable bool
	// BasePath is --base-path ("/argus"): URL then ends with it, so every
	// client, agent and CLI of the harness goes through it.
	BasePath string
	// PathProxy (with BasePath) puts a reverse proxy that keeps the path
	// (pathproxy.go) in front of the server: URL is the proxy's, and no
	// client of the harness talks to the server directly.
	PathProxy bool
}

// Server is a running argus-server.
type Server struct {
	URL  string // http(s)://host:port clients use (the front door, if any)
	Addr string // host:port the server process listens on
	DB   string
	Proc *Proc

	spec      ServerSpec
	logPath   string
	transport http.RoundTripper // trusts spec.CACertFile
	http      *http.Client      // plain: never retries, never follows redirects
	front     *frontDoor        // when Restartable
	proxy     *pathProxy        // when PathProxy

	mu     sync.Mutex
	agents []*Agent // started through StartAgent, for readiness
}

// StartServer starts argus-server serve and returns once it is ready: its
// log names the address it listens on and /healthz answers 200 there.
func StartServer(ctx context.Context, spec ServerSpec) (*Server, error) {
	if spec.Dir == "" {
		return nil, errors.New("testenv.StartServer: ServerSpec.Dir is required (the server's log and database go there)")
	}
	if spec.DB == "" {
		spec.DB = filepath.Join(spec.Dir, "argus.db")
	}
	if spec.Addr == "" {
		spec.Addr = "127.0.0.1:0"
	}
	if spec.ReadyWithin <= 0 {
		spec.ReadyWithin = 15 * time.Second
	}
	transport, err := trusting(spec.CACertFile)
	if err != nil {
		return nil, err
	}
	s := &Server{DB: spec.DB, spec: spec, transport: transport, http: &http.Client{
		Timeout:       5 * time.Second,
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	f, err := os.CreateTemp(spec.Dir, "server-*.log")
	if err != nil {
		return nil, err
	}
	f.Close()
	s.logPath = f.Name()
	if spec.Restartable {
		if s.front, err = openFrontDoor(); err != nil {
			return nil, err
		}
	}
	if spec.PathProxy {
		if spec.BasePath == "" || spec.Restartable {
			return nil, errors.New("testenv.StartServer: PathProxy needs a BasePath and no Restartable")
		}
		if s.proxy, err = openPathProxy(spec.BasePath); err != nil {
			return nil, err
		}
	}
	if err := s.start(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Restart starts a Restartable server again after it exited, on a new
// port behind the same URL, so agents configured with that URL find it.
func (s *Server) Restart(ctx context.Context) error {
	if s.front == nil {
		return errors.New("argus-server restart: start it with ServerSpec.Restartable, so that its URL outlives it")
	}
	if s.Proc.Exited() == nil {
		return errors.New("argus-server restart: it is still running; stop it first")
	}
	return s.start(ctx)
}

// Close kills the server if it still runs and closes its front door.
func (s *Server) Close() {
	if s.Proc != nil {
		s.Proc.Kill()
	}
	if s.front != nil {
		s.front.close()
	}
	if s.proxy != nil {
		s.proxy.close()
	}
}

func (s *Server) start(ctx context.Context) error {
	argv := append([]string{s.spec.Bin, "serve", "--addr", s.spec.Addr, "--db", s.spec.DB, "--log-format", "json"}, s.spec.Args...)
	if s.spec.BasePath != "" {
		argv = append(argv, "--base-path", s.spec.BasePath)
	}
	// A restart appends to the same log: the listening line to read is the
	// newest one, so note where this start's output begins.
	var from int64
	if st, err := os.Stat(s.logPath); err == nil {
		from = st.Size()
	}
	p, err := Start(Spec{Name: ServerBin, Argv: argv, Env: s.spec.Env, LogPath: s.logPath, Log: s.spec.Log})
	if err != nil {
		return err
	}
	s.Proc = p
	if err := s.waitListening(ctx, s.logPath, from); err != nil {
		p.Kill()
		return fmt.Errorf("%w\n%s", err, p.Output())
	}
	return nil
}

// waitListening reads the server's log until it reports where it listens,
// then polls /healthz there.
func (s *Server) waitListening(ctx context.Context, logPath string, from int64) error {
	ctx, cancel := context.WithTimeout(ctx, s.spec.ReadyWithin)
	defer cancel()
	addr, useTLS, err := AddrFromLog(ctx, s.Proc, logPath, from, "argus-server listening")
	if err != nil {
		return err
	}
	s.Addr = addr
	if s.front != nil {
		s.front.retarget(addr)
		addr = s.front.addr()
	}
	if s.proxy != nil {
		s.proxy.retarget(addr, useTLS)
		addr, useTLS = s.proxy.addr(), false
	}
	s.URL = "http://" + addr
	if useTLS {
		s.URL = "https://" + addr
	}
	s.URL += s.spec.BasePath
	return poll(ctx, func() error {
		if err := s.Proc.Exited(); err != nil {
			return permanent(err)
		}
		return s.healthy(ctx)
	})
}

// AddrFromLog waits until the JSON log at logPath, from offset from on,
// holds a line whose message is msg with the "addr" (and "tls") it
// listens on: how a child started on port 0 says which port it got. It
// gives up at once when p exits first.
func AddrFromLog(ctx context.Context, p *Proc, logPath string, from int64, msg string) (addr string, tls bool, err error) {
	err = poll(ctx, func() error {
		if err := p.Exited(); err != nil {
			return permanent(err)
		}
		addr, tls, err = listeningLine(logPath, from, msg)
		return err
	})
	return addr, tls, err
}

// listeningLine finds the first JSON line after offset from whose message
// is msg, and the address and TLS it names.
func listeningLine(logPath string, from int64, msg string) (addr string, tls bool, err error) {
	f, err := os.Open(logPath)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return "", false, err
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line struct {
			Message, Addr string
			TLS           bool
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == msg && line.Addr != "" {
			return line.Addr, line.TLS, nil
		}
	}
	return "", false, fmt.Errorf("%s has no %q line yet", filepath.Base(logPath), msg)
}

func (s *Server) healthy(ctx context.Context) error {
	resp, err := s.get(ctx, "/healthz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/healthz answered %d", resp.StatusCode)
	}
	return nil
}

// trusting is a transport that trusts only the CA in caFile, or the
// default transport when caFile is empty.
func trusting(caFile string) (http.RoundTripper, error) {
	if caFile == "" {
		return http.DefaultTransport, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return t, nil
}

func (s *Server) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path, nil)
	if err != nil {
		return nil, err
	}
	return s.http.Do(req)
}

// Admin runs an argus-server admin command against the server's database,
// e.g. Admin(ctx, "token", "revoke", "-") with the token on stdin.
func (s *Server) Admin(ctx context.Context, stdin string, args ...string) (Result, error) {
	if len(args) < 2 {
		return Result{}, errors.New("argus-server admin: want a command and a subcommand")
	}
	// Flags go before positional arguments: "user create --db X alice".
	argv := append([]string{s.spec.Bin, args[0], args[1], "--db", s.DB}, args[2:]...)
	return Run(ctx, RunSpec{Argv: argv, Stdin: stdin})
}

// Revoke revokes a token with argus-server token revoke, passing it on
// stdin so that it stays out of argv.
func (s *Server) Revoke(ctx context.Context, tok string) error {
	r, err := s.Admin(ctx, tok+"\n", "token", "revoke", "-")
	if err == nil && r.Code != 0 {
		err = fmt.Errorf("token revoke: %s", r)
	}
	return err
}

// CreateUser makes a user with argus-server user create and returns the
// em_live_ token it printed, which must be all it printed.
func (s *Server) CreateUser(ctx context.Context, name string) (string, error) {
	return CreateUser(ctx, s.spec.Bin, s.DB, name)
}

// CreateUser runs bin user create on db, before or while a server runs.
func CreateUser(ctx context.Context, bin, db, name string) (string, error) {
	r, err := Run(ctx, RunSpec{Argv: []string{bin, "user", "create", "--db", db, name}})
	if err != nil {
		return "", err
	}
	tok := strings.TrimSuffix(r.Stdout, "\n")
	if r.Code != 0 || !strings.HasPrefix(tok, "em_live_") || strings.ContainsAny(tok, " \n") {
		return "", fmt.Errorf("user create %s: %s", name, r)
	}
	return tok, nil
}

// Metrics scrapes /metrics into sample → value (labels kept in the name,
// as the exposition format writes them).
func (s *Server) Metrics(ctx context.Context) (map[string]float64, error) {
	resp, err := s.get(ctx, "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics answered %d", resp.StatusCode)
	}
	return parseMetrics(body), nil
}

func parseMetrics(body []byte) map[string]float64 {
	out := map[string]float64{}
	for _, line := range bytes.Split(body, []byte("\n")) {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		i := bytes.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(string(line[i+1:]), 64); err == nil {
			out[string(line[:i])] = v
		}
	}
	return out
}

// PollsHeld is the number of jobs long-polls the server holds now.
func (s *Server) PollsHeld(ctx context.Context) (int, error) {
	m, err := s.Metrics(ctx)
	if err != nil {
		return 0, err
	}
	return int(m["argus_jobs_polls_held"]), nil
}
