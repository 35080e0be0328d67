//go:build windows

package main

import (
	"context"
	"errors"
	"os"

	"github.com/kardianos/service"
	"github.com/rs/zerolog"

	"github.com/argus-exec/argus/agent"
	"github.com/argus-exec/argus/systemd"
)

// runAgent runs the agent, under the service control manager when Windows
// started it as a service. A service process must answer the SCM (through
// kardianos/service's Run), or the SCM gives up on it after 30 seconds;
// Stop and Shutdown from the SCM end ctx as SIGTERM does elsewhere.
func runAgent(ctx context.Context, cfg agent.Config, run func(context.Context, agent.Config) error) error {
	if service.Interactive() {
		return run(ctx, cfg)
	}
	p := &scmProgram{
		run:    func(ctx context.Context) error { return run(ctx, cfg) },
		parent: ctx, log: cfg.Logger, done: make(chan struct{}),
	}
	s, err := service.New(p, &service.Config{Name: serviceName("windows", cfg.Label)})
	if err != nil {
		return err
	}
	if err := s.Run(); err != nil {
		return err
	}
	// Run returns after the SCM's Stop, and Stop waits for the agent.
	<-p.done
	return p.err
}

// scmProgram runs the agent in the background for the SCM.
type scmProgram struct {
	run    func(context.Context) error
	parent context.Context
	log    zerolog.Logger
	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before done is closed
}

func (p *scmProgram) Start(s service.Service) error {
	ctx, cancel := context.WithCancel(p.parent)
	p.cancel = cancel
	go func() {
		err := p.run(ctx)
		if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
			err = nil // stopped by the SCM: a clean stop
		}
		p.err = err
		close(p.done)
		if ctx.Err() != nil {
			return
		}
		// The agent ended on its own, and a service has no stderr: the log
		// (--log-file) is where the reason goes.
		p.log.Error().Err(err).Msg("argus-agent stopped")
		if errors.Is(err, agent.ErrTokenRejected) {
			// Restarting cannot cure a rejected token. A stop asked of the
			// SCM is a clean one, which its recovery actions leave alone;
			// if this account may not stop its own service, exit instead.
			go func() {
				if err := s.Stop(); err != nil {
					os.Exit(systemd.ExitTokenRejected)
				}
			}()
			return
		}
		// Any other end is a failure: exit non-zero so that the recovery
		// action restarts the service after 5 seconds.
		os.Exit(exitError)
	}()
	return nil
}

// Stop ends the agent and waits for it, as the SCM expects of Stop.
func (p *scmProgram) Stop(service.Service) error {
	p.cancel()
	<-p.done
	return nil
}
