package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// logPiece is the size of the pieces a run's log is stored in (run_log
// rows): what the cap drops at a time, and small enough that a read
// starting in the middle of one wastes little.
const logPiece = 64 << 10

// AppendRunLog implements store.Store. The run's row is locked for the
// append, so two appends of one run (an agent and its restarted self)
// take turns and the offsets stay exact.
func (s *Store) AppendRunLog(ctx context.Context, agentID, runID string, offset int64, data []byte, keep int64) (int64, error) {
	var next int64
	err := s.inTx(ctx, func(tx conn) error {
		var owner sql.NullString
		var received, stored int64
		err := tx.row(ctx, `SELECT agent_id, log_received, log_stored FROM runs WHERE id = ?`+tx.s.d.ForUpdate, runID).
			Scan(&owner, &received, &stored)
		if err := notFound(err, "run", runID); err != nil {
			return err
		}
		if owner.String != agentID {
			return fmt.Errorf("run %q of agent %q: %w", runID, agentID, store.ErrNotFound)
		}
		next = received
		if offset > received {
			return store.ErrLogGap
		}
		data = data[min(received-offset, int64(len(data))):]
		if len(data) == 0 {
			return nil
		}
		if err := insertPieces(ctx, tx, runID, received, data); err != nil {
			return err
		}
		received += int64(len(data))
		stored += int64(len(data))
		if keep > 0 && stored > keep {
			freed, err := dropOldest(ctx, tx, runID, stored-keep)
			if err != nil {
				return err
			}
			stored -= freed
		}
		next = received
		_, err = tx.exec(ctx, `UPDATE runs SET log_received = ?, log_stored = ? WHERE id = ?`, received, stored, runID)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrLogGap) {
		return next, fmt.Errorf("append run log: %w", err)
	}
	return next, err
}

// insertPieces stores data at off in logPiece pieces, one of which ends
// exactly at api.LogHead, so the cap can drop everything after the head
// and nothing in it.
func insertPieces(ctx context.Context, tx conn, runID string, off int64, data []byte) error {
	for len(data) > 0 {
		n := min(int64(len(data)), logPiece)
		if off < api.LogHead && off+n > api.LogHead {
			n = api.LogHead - off
		}
		if _, err := tx.exec(ctx, `INSERT INTO run_log (run_id, off, data) VALUES (?, ?, ?)`, runID, off, data[:n]); err != nil {
			return err
		}
		off += n
		data = data[n:]
	}
	return nil
}

// dropOldest deletes the oldest pieces after the head until at least need
// bytes are freed (or nothing after the head is left), and says how many
// bytes it freed.
func dropOldest(ctx context.Context, tx conn, runID string, need int64) (int64, error) {
	rows, err := tx.query(ctx, `SELECT off, LENGTH(data) FROM run_log WHERE run_id = ? AND off >= ? ORDER BY off LIMIT ?`,
		runID, int64(api.LogHead), need/logPiece+2)
	if err != nil {
		return 0, err
	}
	var freed, cut int64
	for rows.Next() && freed < need {
		var off, n int64
		if err := rows.Scan(&off, &n); err != nil {
			rows.Close()
			return 0, err
		}
		freed, cut = freed+n, off+n
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil || freed == 0 {
		return 0, err
	}
	_, err = tx.exec(ctx, `DELETE FROM run_log WHERE run_id = ? AND off >= ? AND off < ?`, runID, int64(api.LogHead), cut)
	return freed, err
}

// ReadRunLog implements store.Store: it reads from the piece holding
// offset (or the first after it) on, and stops at max bytes or at a gap,
// so the slice is always one unbroken stretch.
func (s *Store) ReadRunLog(ctx context.Context, runID string, offset int64, max int) (store.LogSlice, error) {
	out := store.LogSlice{Start: offset}
	var size sql.NullInt64
	var status string
	err := s.pool().row(ctx, `SELECT status, log_received, log_size FROM runs WHERE id = ?`, runID).Scan(&status, &out.Received, &size)
	if err := notFound(err, "run", runID); err != nil {
		return out, err
	}
	out.Ended = api.RunStatus(status).Ended()
	if size.Valid {
		out.Size = &size.Int64
	}
	if offset >= out.Received || max <= 0 {
		return out, nil
	}
	rows, err := s.pool().query(ctx, `SELECT off, data FROM run_log WHERE run_id = ? AND off >= COALESCE(
		(SELECT MAX(off) FROM run_log WHERE run_id = ? AND off <= ?), 0) ORDER BY off LIMIT ?`,
		runID, runID, offset, int64(max/logPiece+2))
	if err != nil {
		return out, fmt.Errorf("read run log: %w", err)
	}
	defer rows.Close()
	for rows.Next() && len(out.Data) < max {
		var off int64
		var piece []byte
		if err := rows.Scan(&off, &piece); err != nil {
			return out, fmt.Errorf("read run log: %w", err)
		}
		if !addPiece(&out, off, piece, offset) {
			break
		}
	}
	if len(out.Data) > max {
		out.Data = out.Data[:max]
	}
	return out, rows.Err()
}

// addPiece extends out with the piece read at off, the first piece from
// offset from on (a piece wholly before it is skipped), and says whether
// reading should go on: not past a gap the cap left.
func addPiece(out *store.LogSlice, off int64, piece []byte, from int64) bool {
	switch {
	case len(out.Data) == 0 && off+int64(len(piece)) <= from:
		return true
	case len(out.Data) == 0:
		out.Start = max(from, off)
		out.Data = append(out.Data, piece[out.Start-off:]...)
		return true
	case off != out.Next():
		return false
	}
	out.Data = append(out.Data, piece...)
	return true
}

const setLogSizeSQL = `UPDATE runs SET log_size = ? WHERE id = ?`

// setLogSize records, from an exit report, how much output the run's log
// will hold in all.
func setLogSize(ctx context.Context, tx conn, runID string, size *int64) error {
	if size == nil {
		return nil
	}
	_, err := tx.exec(ctx, setLogSizeSQL, *size, runID)
	return err
}
