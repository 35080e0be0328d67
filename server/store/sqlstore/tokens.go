package sqlstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/argus-exec/argus/server/store"
)

// touchTokenSQL moves a token's last use forward only, like heartbeatSQL:
// the server writes uses behind, so an older time can arrive late.
const touchTokenSQL = `UPDATE tokens SET last_used_at =
	CASE WHEN last_used_at IS NULL OR last_used_at < ? THEN ? ELSE last_used_at END
	WHERE id = ?`

// TouchTokens records last uses in one transaction, in id order (so two
// replicas flushing at once lock rows in the same order); unknown ids
// match no row and are skipped.
func (s *Store) TouchTokens(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(used))
	err := s.inTx(ctx, func(c conn) error {
		st, err := c.stmt(ctx, touchTokenSQL)
		if err != nil {
			return err
		}
		for _, id := range ids {
			us := dbTime(used[id])
			if _, err := st.ExecContext(ctx, us, us, id); err != nil {
				return s.classify(err)
			}
		}
		return nil
	})
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
