package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/argus-exec/argus/server/store"
)

func insertIdempotency(ctx context.Context, c conn, k store.Idempotency) error {
	_, err := c.exec(ctx, `INSERT INTO idempotency (user_id, key, request, status, response, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, k.UserID, k.Key, k.Request, k.Status, k.Response, dbTime(k.CreatedAt))
	return err
}

// SaveIdempotency records k; ErrExists when its key was used before.
func (s *Store) SaveIdempotency(ctx context.Context, k store.Idempotency) error {
	if err := insertIdempotency(ctx, s.pool(), k); err != nil {
		return fmt.Errorf("save idempotency key: %w", s.classify(err))
	}
	return nil
}

// Idempotency reads the answer recorded under the user's key.
func (s *Store) Idempotency(ctx context.Context, userID, key string) (store.Idempotency, error) {
	k := store.Idempotency{UserID: userID, Key: key}
	var created int64
	err := s.pool().row(ctx, `SELECT request, status, response, created_at FROM idempotency
		WHERE user_id = ? AND key = ?`, userID, key).Scan(&k.Request, &k.Status, &k.Response, &created)
	if err != nil {
		return store.Idempotency{}, fmt.Errorf("idempotency key: %w", notFound(err, "idempotency key of user", userID))
	}
	k.CreatedAt = goTime(created)
	return k, nil
}

// PruneIdempotency deletes the keys recorded before before.
func (s *Store) PruneIdempotency(ctx context.Context, before time.Time) (int, error) {
	res, err := s.pool().exec(ctx, `DELETE FROM idempotency WHERE created_at < ?`, dbTime(before))
	if err != nil {
		return 0, fmt.Errorf("prune idempotency keys: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
