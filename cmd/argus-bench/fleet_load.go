package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"syscall"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/ctxsleep"
	"github.com/argus-exec/argus/server/api"
)

// Phases of a fleet run. Latencies count only while measuring; errors are
// counted apart for the warm-up; once stopping, the failures the
// benchmark causes itself (held polls cut off) count nowhere.
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

// fleetBook is the bookkeeping every simulated agent and every rerun
// writes to: latencies, errors by kind, and each run's way from the
// rerun POST to the agent that received its command.
type fleetBook struct {
	mu    sync.Mutex
	phase int32

	heartbeats []time.Duration // measured heartbeats, send → 204
	accepted   []time.Duration // rerun POST → 202

	errs     map[string]int    // "call: kind" → count while measuring
	warmErrs map[string]int    // the same during the warm-up
	example  map[string]string // phase and kind → one message, for the report

	runs       map[string]*runTrack // by run id
	deliveries map[string]int       // by cmd id: how often any agent got it
	batchHost  map[string]string    // batch id → the host it was recorded on
	sent       int                  // reruns sent while measuring
	twice      int                  // commands received more than once
	wrongAgent int                  // commands received by an agent on another host
}

// runTrack is one rerun: when its POST was sent (known once the 202 names
// the run) and when an agent received its command (which may come first).
type runTrack struct {
	sent, got time.Time
	hasSent   bool
	hasGot    bool
}

func newFleetBook() *fleetBook {
	return &fleetBook{
		errs: map[string]int{}, warmErrs: map[string]int{}, example: map[string]string{},
		runs: map[string]*runTrack{}, deliveries: map[string]int{}, batchHost: map[string]string{},
	}
}

func (b *fleetBook) setPhase(p int32) {
	b.mu.Lock()
	b.phase = p
	b.mu.Unlock()
}

// restart begins a new measurement (the recovery's): latencies, errors,
// runs and counts start again from nothing. Deliveries are kept, so a
// command of before delivered again now still counts as twice.
func (b *fleetBook) restart() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.phase = phaseMeasure
	b.heartbeats, b.accepted = nil, nil
	b.errs, b.example = map[string]int{}, map[string]string{}
	b.runs = map[string]*runTrack{}
	b.sent, b.twice, b.wrongAgent = 0, 0, 0
}

// heartbeat records one heartbeat that was sent at sent.
func (b *fleetBook) heartbeat(sent time.Time, err error) {
	d := time.Since(sent)
	if err != nil {
		b.fail("heartbeat", err)
		return
	}
	b.mu.Lock()
	if b.phase == phaseMeasure {
		b.heartbeats = append(b.heartbeats, d)
	}
	b.mu.Unlock()
}

// fail counts an error of call by its kind.
func (b *fleetBook) fail(call string, err error) {
	key := call + ": " + errKind(err)
	b.mu.Lock()
	defer b.mu.Unlock()
	var count map[string]int
	switch b.phase {
	case phaseWarmup:
		count = b.warmErrs
	case phaseMeasure:
		count = b.errs
	default:
		return
	}
	count[key]++
	// One example of each kind in each phase: the report prints them
	// with their own phase's counts.
	ex := fmt.Sprint(b.phase, key)
	if _, ok := b.example[ex]; !ok {
		b.example[ex] = oneLine(err.Error(), 200)
	}
}

// received records that the agent on host got cmd at got.
func (b *fleetBook) received(host string, cmd api.Command, got time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deliveries[cmd.ID]++
	if b.deliveries[cmd.ID] == 2 {
		b.twice++
	}
	if h, ok := b.batchHost[cmd.BatchID]; !ok || h != host {
		b.wrongAgent++
	}
	r := b.track(cmd.RunID)
	if !r.hasGot {
		r.got, r.hasGot = got, true
	}
}

// accept records a rerun sent at sent that the server answered 202.
func (b *fleetBook) accept(runID string, sent time.Time) {
	d := time.Since(sent)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.accepted = append(b.accepted, d)
	r := b.track(runID)
	r.sent, r.hasSent = sent, true
}

func (b *fleetBook) track(runID string) *runTrack {
	r := b.runs[runID]
	if r == nil {
		r = &runTrack{}
		b.runs[runID] = r
	}
	return r
}

// pending is how many accepted reruns no agent has received yet.
func (b *fleetBook) pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, r := range b.runs {
		if r.hasSent && !r.hasGot {
			n++
		}
	}
	return n
}

// dispatched is rerun POST → command at its agent for every accepted
// rerun that arrived, and how many accepted ones never did.
func (b *fleetBook) dispatched() (lat []time.Duration, lost int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.runs {
		switch {
		case r.hasSent && r.hasGot:
			lat = append(lat, r.got.Sub(r.sent))
		case r.hasSent:
			lost++
		}
	}
	return lat, lost
}

// errKind names what went wrong with a call the way the report counts it;
// a failure on a connection kept alive says for how long (in whole
// seconds, rounded) it had been idle.
func errKind(err error) string {
	var ie *idleConnError
	if errors.As(err, &ie) {
		return fmt.Sprintf("%s on a connection idle %s", errKindOf(ie.err), ie.idle.Round(time.Second))
	}
	return errKindOf(err)
}

func errKindOf(err error) string {
	var ae *client.APIError
	switch {
	case errors.As(err, &ae):
		return fmt.Sprintf("HTTP %d", ae.StatusCode)
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too many open files"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed (EOF)"
	}
	return "other"
}

// rerunLoad sends reruns at rate per second for d, each to a random host
// among the first hosts agents', open loop: a rerun is sent on schedule whether or not the earlier ones
// have been answered, each from its own goroutine. It returns once the
// last one is answered.
func rerunLoad(ctx context.Context, f *fleet, hosts int, rate float64, d time.Duration) {
	var wg sync.WaitGroup
	start := time.Now()
	total := int(rate * d.Seconds())
	for k := range total {
		due := start.Add(time.Duration(float64(k) / rate * float64(time.Second)))
		if !ctxsleep.Sleep(ctx, time.Until(due)) {
			break
		}
		h := rand.IntN(hosts)
		f.book.mu.Lock()
		f.book.sent++
		f.book.mu.Unlock()
		wg.Go(func() {
			user := f.rerunClient(h)
			sent := time.Now()
			q, err := user.Rerun(ctx, f.batches[h], api.RerunRequest{})
			if err != nil {
				if ctx.Err() == nil {
					f.book.fail("rerun", err)
				}
				return
			}
			f.book.accept(q.RunID, sent)
		})
	}
	wg.Wait()
}

// probeLoad sends heartbeats at rate per second for d, each from a random
// agent over that agent's own transport. Agents whose polls succeed send
// none (their held poll is their heartbeat), so these probes measure what
// an agent whose polls fail, or one before held polls counted, meets.
func probeLoad(ctx context.Context, f *fleet, rate float64, d time.Duration) {
	if rate <= 0 {
		return
	}
	var wg sync.WaitGroup
	start := time.Now()
	for k := range int(rate * d.Seconds()) {
		due := start.Add(time.Duration(float64(k) / rate * float64(time.Second)))
		if !ctxsleep.Sleep(ctx, time.Until(due)) {
			break
		}
		a := f.agents[rand.IntN(len(f.agents))]
		wg.Go(func() { a.beat(ctx) })
	}
	wg.Wait()
}

// oneLine folds an error message into one line of at most n bytes.
func oneLine(s string, n int) string {
	b := []byte(s)
	for i, c := range b {
		if c == '\n' || c == '\r' {
			b[i] = ' '
		}
	}
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
