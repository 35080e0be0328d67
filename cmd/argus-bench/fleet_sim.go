package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/ctxsleep"
	"github.com/argus-exec/argus/server/api"
)

// simAgent is one simulated argus-agent: the calls the real one makes
// (agent/daemon.go heartbeatLoop and pollLoop, agent/queue.go for a rerun)
// through the project's client, over connections of its own, with no
// process started: a rerun is acked with a made-up PID and reported
// exited at once.
type simAgent struct {
	host string
	id   string
	c    *client.Client
	tr   *http.Transport
	book *fleetBook
	// pollsBeat: the server said held polls are heartbeats; pollFailing:
	// the last poll failed (agent/daemon.go).
	pollsBeat, pollFailing atomic.Bool
	// refusedAt is when its last poll failed (Unix ns; 0: never), for
	// the recovery measure (fleet_recover.go).
	refusedAt atomic.Int64
}

// simPID is the PID every simulated rerun acks.
const simPID = 4242

// agentAddr is the loopback address agent i connects from: 127.1.0.1,
// 127.1.0.2… (Linux answers all of 127.0.0.0/8 on lo), so that the
// server sees a host per agent, as in a real fleet, and budgets per
// client address (failed authentications) apply per agent rather than to
// the whole fleet at once.
func agentAddr(i int) net.IP {
	n := i + 1
	return net.IPv4(127, byte(1+n>>16), byte(n>>8), byte(n))
}

// newSimAgent gives an agent that registered as host with token its own
// transport, so the sockets the server holds are the ones a fleet of real
// agents would make it hold. With conns 1 it is today's argus-agent: no
// cap on connections, and one idle for 5 s is closed, so an idle agent
// keeps only its held poll's (agent/register.go agentIdleConn). With 2 it
// is the agent before held polls counted as heartbeats: at most two
// connections, both kept alive. from is the address its connections come
// from (nil: any).
func newSimAgent(url, host, id, token string, conns int, from net.IP, book *fleetBook) (*simAgent, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if from != nil {
		d.LocalAddr = &net.TCPAddr{IP: from}
	}
	tr := &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     5 * time.Second,
		DisableCompression:  true,
	}
	if conns == 2 {
		tr.MaxConnsPerHost, tr.IdleConnTimeout = 2, 5*time.Minute
	}
	// No retries, like every other benchmark call: a failure is counted,
	// not hidden behind a second attempt.
	c, err := client.New(url, token, client.Options{RetryMax: -1, Version: "bench", Transport: tr})
	if err != nil {
		return nil, err
	}
	return &simAgent{host: host, id: id, c: c, tr: tr, book: book}, nil
}

// run is the agent from its start, delay after the fleet's, until ctx
// ends: its heartbeat loop and its poll loop, as the real agent's.
func (a *simAgent) run(ctx context.Context, delay, every, wait time.Duration, conns int) {
	defer a.tr.CloseIdleConnections()
	if !ctxsleep.Sleep(ctx, delay) {
		return
	}
	done := make(chan struct{})
	go func() { defer close(done); a.heartbeatLoop(ctx, every, conns == 1) }()
	a.pollLoop(ctx, wait)
	<-done
}

// heartbeatLoop beats at once and then every interval, as the real agent:
// with quiet, not while its last poll said the held poll is its heartbeat.
func (a *simAgent) heartbeatLoop(ctx context.Context, every time.Duration, quiet bool) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if !quiet || !a.pollsBeat.Load() || a.pollFailing.Load() {
			a.beat(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// beat sends one heartbeat. A failure on a kept-alive connection says how
// long that connection had been idle: a server that closes idle
// connections shows up as failures after one idle time.
func (a *simAgent) beat(ctx context.Context) {
	var conn httptrace.GotConnInfo
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { conn = i }}
	sent := time.Now()
	pollsBeat, err := a.c.HeartbeatPolls(httptrace.WithClientTrace(ctx, trace), a.id)
	if err == nil {
		a.pollsBeat.Store(pollsBeat)
	}
	if err != nil && conn.Reused {
		err = &idleConnError{err: err, idle: conn.IdleTime}
	}
	if ctx.Err() == nil {
		a.book.heartbeat(sent, err)
	}
}

// pollLoop holds a long-poll at all times and hands each command to its
// own goroutine, as the real agent's dispatch does. A failed poll is
// retried after a second (the real agent's first backoff step).
func (a *simAgent) pollLoop(ctx context.Context, wait time.Duration) {
	for ctx.Err() == nil {
		jobs, retryIn, ok := a.poll(ctx, wait)
		a.pollFailing.Store(!ok)
		if ok {
			a.pollsBeat.Store(jobs.HeldPollHeartbeat)
		}
		if !ok {
			ctxsleep.Sleep(ctx, retryIn)
			continue
		}
		for _, cmd := range jobs.Commands {
			go a.handle(ctx, cmd)
		}
	}
}

// poll is one jobs poll. A failed one says when to try again: the 503's
// Retry-After, as the real agent honours it, or a second (its first
// backoff step).
func (a *simAgent) poll(ctx context.Context, wait time.Duration) (*api.JobList, time.Duration, bool) {
	jobs, err := a.c.Jobs(ctx, a.id, wait)
	got := time.Now()
	if err != nil {
		if ctx.Err() == nil {
			a.refusedAt.Store(got.UnixNano())
			a.book.fail("jobs poll", err)
		}
		retryIn := time.Second
		var apiErr *client.APIError
		if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 {
			retryIn = apiErr.RetryAfter
		}
		return nil, retryIn, false
	}
	for _, cmd := range jobs.Commands {
		a.book.received(a.host, cmd, got)
	}
	return jobs, 0, true
}

// handle is the real agent's rerun path without the process: ask whether
// to start, ack the PID, report the exit.
func (a *simAgent) handle(ctx context.Context, cmd api.Command) {
	if cmd.Kind != api.KindRerun {
		return
	}
	ans, err := a.c.StartCommand(ctx, a.id, cmd.ID)
	if err != nil {
		if ctx.Err() == nil {
			a.book.fail("start", err)
		}
		return
	}
	if !ans.Start {
		return
	}
	now := time.Now()
	if _, err := a.c.Ack(ctx, a.id, cmd.ID, api.AckRequest{PID: simPID, StartedAt: &now}); err != nil {
		if ctx.Err() == nil {
			a.book.fail("ack", err)
		}
		return
	}
	code := 0
	if _, err := a.c.ReportExit(ctx, a.id, cmd.RunID, api.ExitReport{ExitCode: &code, EndedAt: time.Now()}); err != nil && ctx.Err() == nil {
		a.book.fail("exit", err)
	}
}

// idleConnError is a call that failed on a connection kept alive from an
// earlier call, idle for idle.
type idleConnError struct {
	err  error
	idle time.Duration
}

func (e *idleConnError) Error() string {
	return fmt.Sprintf("%v (on a kept-alive connection idle for %s)", e.err, e.idle.Round(time.Millisecond))
}

func (e *idleConnError) Unwrap() error { return e.err }
