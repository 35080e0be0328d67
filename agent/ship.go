package agent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/ctxsleep"
	"github.com/argus-exec/argus/server/api"
)

// Live output. A run writes to its log file and nothing else, so a slow
// or absent server can never block or slow it; this loop reads what each
// run added since the last look and appends it to the run's log on the
// server, in pieces of at most api.MaxLogChunk. The server's answer is
// the offset it wants next, which is the only bookkeeping: it lives in
// memory, and after a restart (or when the server says the offset is past
// its end) the loop asks the server where to go on. A run's log counts as
// shipped once the run has ended and every byte of its file is in
// (Record.LogShipped); until then the journal keeps the record.

const (
	// shipEvery is how often the logs of runs are looked at for new
	// output: the most a printed line waits for its trip to the server.
	shipEvery = 100 * time.Millisecond
	// shipRound bounds what one run ships per round, so one run with a
	// large backlog does not hold back the others' fresh lines.
	shipRound = 8 * api.MaxLogChunk
)

// errNotShipped: the server will not take this run's log (it does not know
// the run, or it is not this agent's); nothing a retry can change.
var errNotShipped = errors.New("the server does not take this run's log")

// shipper is the state of shipLoop: the offset the server wants next, per
// run id, as last answered (absent: not known yet, ask).
type shipper struct {
	d    *daemon
	next map[string]int64
	buf  []byte
}

// shipLoop ships runs' output until ctx ends, looking every shipEvery
// while some run's log is unshipped and sleeping on kickShip otherwise (an
// idle agent wakes for nothing), backing off while the server is
// unreachable.
func (d *daemon) shipLoop(ctx context.Context) {
	s := &shipper{d: d, next: map[string]int64{}, buf: make([]byte, api.MaxLogChunk)}
	delay, wait := shipEvery, time.Duration(0)
	var back <-chan struct{} // while backing off: the server's return ends the wait
	for {
		if len(d.journal.shipping()) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-d.shipKick:
			}
		}
		if !ctxsleep.SleepOr(ctx, delay, back) {
			return
		}
		back = d.link.serverBack()
		if s.round(ctx) {
			delay, wait = shipEvery, 0
			continue
		}
		wait = nextBackoff(wait, d.cfg.MaxBackoff)
		delay = wait
	}
}

// round ships what is new in every run's log; false when something must
// be retried later.
func (s *shipper) round(ctx context.Context) bool {
	ok := true
	for _, rec := range s.d.journal.shipping() {
		if ctx.Err() != nil {
			return false
		}
		err := s.ship(ctx, rec)
		switch {
		case err == nil:
		case errors.Is(err, errNotShipped):
			s.d.log.Warn().Err(err).Str("run_id", rec.RunID).Msg("not shipping this run's output any more")
			s.done(rec)
		default:
			s.d.log.Debug().Err(err).Str("run_id", rec.RunID).Msg("shipping output failed; will retry")
			ok = false
		}
	}
	return ok
}

// ship sends one run's new output, up to shipRound bytes, and marks the
// log shipped once the run has ended and all of it is in.
func (s *shipper) ship(ctx context.Context, rec Record) error {
	f, err := os.Open(rec.LogPath)
	if errors.Is(err, os.ErrNotExist) {
		// Never started, or its log was removed: nothing will come.
		if ended(rec) {
			s.done(rec)
		}
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	next, known := s.next[rec.RunID]
	if !known {
		// After a start or restart: ask the server where to go on.
		if next, err = s.append(ctx, rec.RunID, 0, nil); err != nil {
			return err
		}
		s.next[rec.RunID] = next
	}
	for sent := 0; next < size && sent < shipRound; {
		n, err := f.ReadAt(s.buf[:min(int64(len(s.buf)), size-next)], next)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if n == 0 {
			break // the file shrank: nothing more to read
		}
		if next, err = s.append(ctx, rec.RunID, next, s.buf[:n]); err != nil {
			return err
		}
		s.next[rec.RunID] = next
		sent += n
	}
	if next >= size && ended(rec) {
		s.done(rec)
	}
	return nil
}

// ended: the run's process is over (or never was), so its log will not
// grow any more (barring processes it left behind).
func ended(rec Record) bool { return rec.Exit != nil || rec.State == stateFailed }

// append sends one piece; a 409 (the server has fewer bytes than the
// offset, say after its database was restored) is answered by asking the
// server where it is, and going on from there.
func (s *shipper) append(ctx context.Context, runID string, offset int64, data []byte) (int64, error) {
	c := s.d.conn()
	next, err := c.AppendRunLog(ctx, s.d.agentID, runID, offset, data)
	if errors.Is(err, client.ErrConflict) {
		next, err = c.AppendRunLog(ctx, s.d.agentID, runID, 0, nil)
	}
	switch {
	case err == nil:
		return next, nil
	case s.d.rejected(ctx, c, err):
		return 0, err
	case errors.Is(err, client.ErrNotFound), errors.Is(err, client.ErrForbidden), errors.Is(err, client.ErrBadRequest):
		return 0, errors.Join(errNotShipped, err)
	}
	return 0, err
}

// done marks a run's log shipped: the journal may forget the record.
func (s *shipper) done(rec Record) {
	delete(s.next, rec.RunID)
	if _, err := s.d.journal.update(rec.CmdID, func(r *Record) { r.LogShipped = true }); err != nil {
		s.d.log.Error().Err(err).Msg("journal write failed")
	}
}

// logSize is the size of a run's log file at its end (0 when it has
// none): what the exit report tells the server to expect.
func logSize(path string) *int64 {
	var n int64
	if st, err := os.Stat(path); err == nil {
		n = st.Size()
	}
	return &n
}

// fromLineStart drops the partial line a tail cut from a longer log starts
// with, so the tail begins where a line does; a tail that is one long
// line (no newline before its end) is kept whole.
func fromLineStart(tail []byte) []byte {
	i := bytes.IndexByte(tail, '\n')
	if i < 0 || i == len(tail)-1 {
		return tail
	}
	return tail[i+1:]
}
