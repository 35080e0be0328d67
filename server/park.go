package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/token"
)

// Parking: a held jobs poll that found nothing to hand out leaves
// net/http. Held inside its handler, a poll keeps a goroutine whose stack
// has grown through the handler chain and the store (16 KiB), net/http's
// reader goroutine and buffers (about 30 KiB live per agent, measured by
// argus-bench fleet). Parked, it keeps its connection (hijacked), a
// subscription that calls a func, and one small goroutine blocked in a
// one-byte Read, which notices at once an agent that hangs up. Wake-ups
// (a command queued, a lease's end, the hold's end, shutdown) end that
// Read through the connection's read deadline; the poll then claims as
// before, writes its answer and hands the connection back to net/http
// (relistener), so the agent's next request is served on it as usual.
//
// Parking needs Serve (its relistener), a FuncWaker, and an HTTP/1.x
// connection net/http gives up; otherwise the poll is held in its
// handler (hold in wake.go), which behaves the same seen from outside.

// parkedPoll is one parked long-poll.
type parkedPoll struct {
	s       *Server
	agentID string
	maxRuns int
	until   time.Time      // the hold's end
	header  http.Header    // the answer's headers, as the middleware set them
	finish  func(code int) // the request's metric and log line (observe)
	woken   atomic.Bool    // a wake-up since the last look
	cancel  func()         // ends the waker subscription
	release func()         // ends the heartbeat stamping and the held count

	conn net.Conn // the agent's connection, once hijacked

	mu     sync.Mutex
	target net.Conn // what wake ends the Read of: nil before the hijack and once unheld
}

// parkedPolls is the Server's registry of parked polls, for shutdown.
type parkedPolls struct {
	mu      sync.Mutex
	set     map[*parkedPoll]struct{}
	removed chan struct{} // signalled at each removal, for wait
}

// lookTimeout bounds each store call of a parked poll, which has no
// request context of its own.
const lookTimeout = 10 * time.Second

// park holds r's poll parked. parked false: it could not be, nothing was
// written, and the caller holds the poll itself. parked true with an
// error: the caller writes the error.
func (s *Server) park(w http.ResponseWriter, r *http.Request, agentID string, wait time.Duration, maxRuns int) (parked bool, err error) {
	fw, ok := s.waker.(FuncWaker)
	sw := statusWriterOf(w)
	if s.relisten == nil || !ok || sw == nil || r.ProtoMajor != 1 || s.isClosing() {
		return false, nil
	}
	p := &parkedPoll{s: s, agentID: agentID, maxRuns: maxRuns, until: time.Now().Add(wait)}
	// Held from here, for the heartbeat stamps and --max-held-polls.
	stamping, counted := s.beats.holding(agentID), s.shed.parking()
	p.release = func() { stamping(); counted() }
	// Subscribed before the look, so a command queued in between wakes it.
	if p.cancel, err = fw.SubscribeFunc(r.Context(), agentID, p.wake); err != nil {
		p.release()
		return false, nil // a listener down: the handler's hold re-checks every second
	}
	found, next, err := p.look(r.Context())
	if err != nil || len(found) > 0 {
		p.cancel()
		p.release()
		if err == nil {
			writeJSON(w, http.StatusOK, api.JobList{Commands: found})
		}
		return true, err
	}
	p.header, p.finish = w.Header().Clone(), sw.finish
	conn, buffered, err := http.NewResponseController(w).Hijack()
	if err != nil {
		p.cancel()
		p.release()
		return false, nil
	}
	s.parked.add(p)
	s.metrics.held.Inc()
	p.conn = conn
	p.mu.Lock()
	p.target = conn
	p.mu.Unlock()
	if buffered.Reader.Buffered() > 0 {
		// The agent sent more than this request (HTTP/1.1 clients do not
		// pipeline): those bytes cannot be handed back to net/http.
		go p.answer(nil, false)
		return true, nil
	}
	// Store calls are made on the handler's goroutine where they can be
	// (the first look was): they grow a stack (the SQLite engine's
	// deeply), and serve's should stay small while it waits.
	go p.serve(next)
	return true, nil
}

// wake is the waker's func: it ends the parked Read at once. The flag
// covers a wake-up that comes while serve is not in Read. Under p.mu, so
// that once unhold has run no wake-up touches a connection net/http owns
// again.
func (p *parkedPoll) wake() {
	p.woken.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.target != nil {
		_ = p.target.SetReadDeadline(time.Now())
	}
}

// serve waits for a wake-up, the hold's end or a lease's end (next),
// and looks at each; it answers with what it finds, or empty at the end.
func (p *parkedPoll) serve(next time.Time) {
	var one [1]byte
	for {
		// Checked before the Read too: a shutdown that began before this
		// poll was registered did not wake it.
		if p.ended() {
			return
		}
		_ = p.conn.SetReadDeadline(next)
		if !p.woken.Swap(false) {
			n, err := p.conn.Read(one[:])
			if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
				p.unhold()
				p.conn.Close() // the agent hung up, or spoke out of turn
				p.done(0)
				return
			}
		}
		if p.ended() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), lookTimeout)
		found, at, err := p.look(ctx)
		cancel()
		if err != nil {
			p.fail(err)
			return
		}
		if len(found) > 0 {
			p.answer(found, true)
			return
		}
		next = at
	}
}

// ended answers empty when the server is shutting down or the hold is
// over.
func (p *parkedPoll) ended() bool {
	closing := p.s.isClosing()
	if !closing && time.Now().Before(p.until) {
		return false
	}
	p.answer(nil, !closing)
	return true
}

// look claims the agent's commands, or says when to look again without
// a wake-up: the hold's end, or just past the end of a lease of the
// agent's commands, so a redelivery is not late.
func (p *parkedPoll) look(ctx context.Context) ([]api.Command, time.Time, error) {
	found, at, ok, err := p.s.lookForWork(ctx, p.agentID, p.maxRuns)
	if err != nil || len(found) > 0 || !ok || p.until.Before(at) {
		return found, p.until, err
	}
	return nil, at, nil
}

// answer writes the jobs answer and, with keep, hands the connection back
// to net/http.
func (p *parkedPoll) answer(found []api.Command, keep bool) {
	if found == nil {
		found = []api.Command{}
	}
	p.respond(http.StatusOK, api.JobList{Commands: found}, keep)
}

// fail answers 500, as writeError does for a store failure.
func (p *parkedPoll) fail(err error) {
	p.s.log.Error().Str("error", token.Redact(err.Error())).Str("route", "GET /api/agents/{agent_id}/jobs").Msg("request failed")
	p.respond(http.StatusInternalServerError, api.Error{Error: "internal error"}, false)
}

// respond ends the hold first (so the agent's next poll, which may come
// the moment this answer reaches it, finds the slot free and nothing
// waking this one), then writes, then logs.
func (p *parkedPoll) respond(code int, body any, keep bool) {
	p.unhold()
	p.write(code, body, keep)
	p.done(code)
}

func (p *parkedPoll) write(code int, body any, keep bool) {
	data, _ := json.Marshal(body)
	data = append(data, '\n')
	h := p.header
	setJSONHeaders(h)
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	resp := &http.Response{
		StatusCode: code, ProtoMajor: 1, ProtoMinor: 1, Header: h, Close: !keep,
		ContentLength: int64(len(data)), Body: io.NopCloser(bytes.NewReader(data)),
	}
	var out bytes.Buffer
	_ = resp.Write(&out)
	_ = p.conn.SetDeadline(time.Now().Add(lookTimeout))
	if _, err := p.conn.Write(out.Bytes()); err != nil || !keep {
		p.conn.Close()
		return
	}
	_ = p.conn.SetDeadline(time.Time{}) // a last wake-up's too
	p.s.relisten.handBack(p.conn)
}

// unhold ends what the parked poll holds: wake-ups, its heartbeat
// stamping, its place under --max-held-polls and in the held-polls metric.
func (p *parkedPoll) unhold() {
	p.mu.Lock()
	p.target = nil
	p.mu.Unlock()
	p.cancel()
	p.release()
	p.s.metrics.held.Dec()
}

// done logs the request and leaves the registry shutdown waits on.
func (p *parkedPoll) done(code int) {
	p.finish(code)
	p.s.parked.remove(p)
}

func (pp *parkedPolls) add(p *parkedPoll) {
	pp.mu.Lock()
	if pp.set == nil {
		pp.set = make(map[*parkedPoll]struct{})
	}
	if pp.removed == nil {
		pp.removed = make(chan struct{}, 1)
	}
	pp.set[p] = struct{}{}
	pp.mu.Unlock()
}

func (pp *parkedPolls) remove(p *parkedPoll) {
	pp.mu.Lock()
	delete(pp.set, p)
	removed := pp.removed
	pp.mu.Unlock()
	select {
	case removed <- struct{}{}:
	default: // wait has a signal to look at already
	}
}

// wakeAll wakes every parked poll: the server is shutting down.
func (pp *parkedPolls) wakeAll() {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	for p := range pp.set {
		p.wake()
	}
}

// wait waits until every parked poll has answered, or ctx ends. Polls
// may still be parking while it waits (one that parks after shutdown
// began answers at once).
func (pp *parkedPolls) wait(ctx context.Context) {
	for {
		pp.mu.Lock()
		n, removed := len(pp.set), pp.removed
		pp.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-removed:
		case <-ctx.Done():
			return
		}
	}
}

func (s *Server) isClosing() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}
