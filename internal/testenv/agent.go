package testenv

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/server/api"
)

// AgentSpec describes one argus-agent daemon process.
type AgentSpec struct {
	Bin string // the argus-agent binary
	// Launcher runs Bin (["wine"] for a Windows agent: wine.go); empty:
	// Bin is run itself.
	Launcher []string
	Home     string // --home, holding its token cache and journal
	Label    string
	// Args are more flags (--heartbeat-interval, --grace-period…), Env
	// more variables (ARGUS_AGENT_FAULT=…).
	Args []string
	Env  []string
	// LogPath receives the agent's output (default agent-<home>.log beside
	// Home), and Log a copy of it, e.g. a terminal.
	LogPath     string
	Log         io.Writer
	ReadyWithin time.Duration // default 15s
}

// Agent is a running argus-agent daemon.
type Agent struct {
	ID   string
	Home string
	Proc *Proc
}

// Register runs argus-agent --register against the server with a user's
// em_live_ token and returns the agent id it printed. extra are more
// flags (--label, --ca-cert…).
func (s *Server) Register(ctx context.Context, bin, home, userToken string, extra ...string) (string, error) {
	return s.RegisterWith(ctx, AgentSpec{Bin: bin, Home: home, Args: extra}, userToken)
}

// RegisterWith is Register for an agent run as spec says (its Launcher,
// Env and Args).
func (s *Server) RegisterWith(ctx context.Context, spec AgentSpec, userToken string) (string, error) {
	argv := append(append(append([]string{}, spec.Launcher...), spec.Bin, "--register", "--home", spec.Home), spec.Args...)
	r, err := Run(ctx, RunSpec{
		Argv: argv,
		Env:  append([]string{"ARGUS_URL=" + s.URL, "ARGUS_TOKEN=" + userToken}, spec.Env...),
	})
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(r.Stdout)
	if r.Code != 0 || id == "" || strings.ContainsAny(id, " \n") {
		return "", fmt.Errorf("argus-agent --register: %s", r)
	}
	return id, nil
}

// StartAgent starts an already registered agent (id is what Register
// printed) in the foreground and returns once it is ready (see the package
// comment); user is a client of the agent's owner, to see it online.
func (s *Server) StartAgent(ctx context.Context, spec AgentSpec, id string, user *client.Client) (*Agent, error) {
	if spec.ReadyWithin <= 0 {
		spec.ReadyWithin = 15 * time.Second
	}
	if spec.LogPath == "" {
		spec.LogPath = filepath.Join(filepath.Dir(spec.Home), fmt.Sprintf("agent-%s.log", filepath.Base(spec.Home)))
	}
	// No --url: the daemon finds the server in its token cache, as it does
	// for an operator.
	argv := append(append(append([]string{}, spec.Launcher...), spec.Bin, "--home", spec.Home), spec.Args...)
	if spec.Label != "" {
		argv = append(argv, "--label", spec.Label)
	}
	// An empty ARGUS_TOKEN: the daemon runs on its cached ag_live_ token.
	p, err := Start(Spec{Name: AgentBin, Argv: argv, Env: append([]string{"ARGUS_TOKEN="}, spec.Env...), LogPath: spec.LogPath, Log: spec.Log})
	if err != nil {
		return nil, err
	}
	a := &Agent{ID: id, Home: spec.Home, Proc: p}
	s.mu.Lock()
	s.agents = append(s.agents, a)
	s.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, spec.ReadyWithin)
	defer cancel()
	if err := poll(wctx, func() error { return s.agentReady(wctx, a, user) }); err != nil {
		p.Kill()
		return nil, fmt.Errorf("argus-agent %s not ready within %v: %w\n%s", id, spec.ReadyWithin, err, p.Output())
	}
	return a, nil
}

// agentReady holds when this agent process is alive, its id is online on
// a heartbeat this process sent, and the server holds a long-poll for
// every live agent started through the harness (this one included).
func (s *Server) agentReady(ctx context.Context, a *Agent, user *client.Client) error {
	if err := a.Proc.Exited(); err != nil {
		return permanent(err)
	}
	var listed []api.Agent
	for opts := (client.ListOptions{Limit: 1000}); ; {
		page, err := user.Agents(ctx, opts)
		if err != nil {
			return err
		}
		listed = append(listed, page.Agents...)
		if opts.Cursor = page.NextCursor; opts.Cursor == "" {
			break
		}
	}
	i := slices.IndexFunc(listed, func(g api.Agent) bool { return g.ID == a.ID })
	switch {
	case i < 0:
		return fmt.Errorf("agent %s is not listed", a.ID)
	case !listed[i].Online:
		return fmt.Errorf("agent %s is not online", a.ID)
	case listed[i].LastHeartbeat == nil || listed[i].LastHeartbeat.Before(a.Proc.Started):
		return fmt.Errorf("agent %s has not heartbeated since this process started", a.ID)
	}
	held, err := s.PollsHeld(ctx)
	if err != nil {
		return err
	}
	if live := s.liveAgents(); held < live {
		return fmt.Errorf("server holds %d long-polls for %d live agents", held, live)
	}
	return nil
}

func (s *Server) liveAgents() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range s.agents {
		if a.Proc.Exited() == nil {
			n++
		}
	}
	return n
}
