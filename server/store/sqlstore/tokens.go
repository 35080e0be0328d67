package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/argus-exec/argus/server/store"
)

// TouchTokens records last uses in one transaction (moveForward: a few
// round trips for thousands of tokens, rows locked in id order); a use
// older than the stored one changes nothing, and unknown ids match no row.
func (s *Store) TouchTokens(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(c conn) error { return s.moveForward(ctx, c, tokenLastUses, used) })
	if err != nil {
		return fmt.Errorf("touch tokens: %w", err)
	}
	return nil
}

// ListTokens returns the user's tokens and their agents', oldest first.
func (s *Store) ListTokens(ctx context.Context, userID string) ([]store.Token, error) {
	rows, err := s.pool().query(ctx, `SELECT `+tokenCols+` FROM tokens WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return collect(rows, scanToken)
}
