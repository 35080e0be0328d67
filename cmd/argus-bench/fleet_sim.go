package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
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
// transport: at most conns connections, all kept alive, so the sockets
// the server holds are the ones a fleet of real agents would make it hold.
// from is the address its connections come from (nil: any).
func newSimAgent(url, host, id, token string, conns int, from net.IP, book *fleetBook) (*simAgent, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if from != nil {
		d.LocalAddr = &net.TCPAddr{IP: from}
	}
	tr := &http.Transport{
		DialContext:         d.DialContext,
		MaxConnsPerHost:     conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     5 * time.Minute,
		DisableCompression:  true,
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
// ends: two loops on two connections, or one loop on one.
func (a *simAgent) run(ctx context.Context, delay, every, wait time.Duration, conns int) {
	defer a.tr.CloseIdleConnections()
	if !ctxsleep.Sleep(ctx, delay) {
		return
	}
	if conns == 1 {
		a.oneConnLoop(ctx, every, wait)
		return
	}
	done := make(chan struct{})
	go func() { defer close(done); a.heartbeatLoop(ctx, every) }()
	a.pollLoop(ctx, wait)
	<-done
}

// heartbeatLoop beats at once and then every interval, as the real agent.
func (a *simAgent) heartbeatLoop(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		a.beat(ctx)
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
	err := a.c.Heartbeat(httptrace.WithClientTrace(ctx, trace), a.id)
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
		jobs, ok := a.poll(ctx, wait)
		if !ok {
			ctxsleep.Sleep(ctx, time.Second)
			continue
		}
		for _, cmd := range jobs.Commands {
			go a.handle(ctx, cmd)
		}
	}
}

func (a *simAgent) poll(ctx context.Context, wait time.Duration) (*api.JobList, bool) {
	jobs, err := a.c.Jobs(ctx, a.id, wait)
	got := time.Now()
	if err != nil {
		if ctx.Err() == nil {
			a.book.fail("jobs poll", err)
		}
		return nil, false
	}
	for _, cmd := range jobs.Commands {
		a.book.received(a.host, cmd, got)
	}
	return jobs, true
}

// oneConnLoop is an agent that keeps one connection: with HTTP/1.1 a held
// poll occupies it, so the poll is held only until the next heartbeat is
// due, the heartbeat goes out, and the poll is renewed; commands are
// started, acked and reported on the same connection before polling again.
func (a *simAgent) oneConnLoop(ctx context.Context, every, wait time.Duration) {
	next := time.Now()
	for ctx.Err() == nil {
		if !time.Now().Before(next) {
			a.beat(ctx)
			next = next.Add(every)
			if now := time.Now(); next.Before(now) { // fell behind: keep the rhythm from now
				next = now.Add(every)
			}
		}
		w := min(time.Until(next), wait)
		if w < time.Millisecond { // too short to hold: wait it out here
			ctxsleep.Sleep(ctx, w)
			continue
		}
		jobs, ok := a.poll(ctx, w)
		if !ok {
			ctxsleep.Sleep(ctx, min(time.Second, time.Until(next)))
			continue
		}
		for _, cmd := range jobs.Commands {
			a.handle(ctx, cmd)
		}
	}
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
