package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/argus-exec/argus/server/store"
)

func (s *Store) CreateWebhook(ctx context.Context, h store.Webhook) error {
	_, err := s.pool().exec(ctx, `INSERT INTO webhooks (id, project, url, secret, created_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, h.ID, h.Project, h.URL, h.Secret, h.CreatedBy, dbTime(h.CreatedAt))
	if err != nil {
		return fmt.Errorf("create webhook: %w", err)
	}
	return nil
}

const webhookCols = `h.id, h.project, h.url, h.secret, h.created_by, h.created_at`

func scanWebhook(r row) (store.Webhook, error) {
	var h store.Webhook
	var created int64
	err := r.Scan(&h.ID, &h.Project, &h.URL, &h.Secret, &h.CreatedBy, &created)
	h.CreatedAt = goTime(created)
	return h, err
}

func (s *Store) Webhooks(ctx context.Context, project string) ([]store.Webhook, error) {
	rows, err := s.pool().query(ctx, `SELECT `+webhookCols+` FROM webhooks h WHERE h.project = ?
		ORDER BY h.created_at, h.id`, project)
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	return collect(rows, scanWebhook)
}

func (s *Store) DeleteWebhook(ctx context.Context, project, id string) error {
	return s.inTx(ctx, func(c conn) error {
		res, err := c.exec(ctx, `DELETE FROM webhooks WHERE id = ? AND project = ?`, id, project)
		if err != nil {
			return err
		}
		if err := affected(res, "webhook", id); err != nil {
			return err
		}
		_, err = c.exec(ctx, `DELETE FROM webhook_deliveries WHERE hook_id = ?`, id)
		return err
	})
}

// ExpandRunEvents takes pending run ends oldest first (SKIP LOCKED on
// PostgreSQL, so replicas take different ones), and in the same
// transaction writes each one's deliveries and marks it done: an end is
// turned into deliveries exactly once, crash or not.
func (s *Store) ExpandRunEvents(ctx context.Context, limit int, now time.Time, newID func() string,
	body func(deliveryID string, r store.Run, b store.Batch) ([]byte, error)) (int, error) {
	n := 0
	err := s.inTx(ctx, func(c conn) error {
		rows, err := c.query(ctx, `SELECT e.run_id FROM run_events e WHERE e.done = FALSE
			ORDER BY e.created_at, e.run_id LIMIT ?`+s.d.SkipLocked, limit)
		if err != nil {
			return err
		}
		ids, err := collect(rows, func(r row) (string, error) {
			var id string
			return id, r.Scan(&id)
		})
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := s.expandRunEvent(ctx, c, id, now, newID, body); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("expand run events: %w", err)
	}
	return n, nil
}

func (s *Store) expandRunEvent(ctx context.Context, c conn, runID string, now time.Time, newID func() string,
	body func(string, store.Run, store.Batch) ([]byte, error)) error {
	r, err := scanRun(c.row(ctx, runByIDSQL, runID))
	if err != nil {
		return err
	}
	b, err := scanBatch(c.row(ctx, `SELECT `+batchCols+` FROM batches b WHERE b.id = ?`, r.BatchID))
	if err != nil {
		return err
	}
	rows, err := c.query(ctx, `SELECT `+webhookCols+` FROM webhooks h WHERE h.project = ? ORDER BY h.created_at, h.id`, b.Project)
	if err != nil {
		return err
	}
	hooks, err := collect(rows, scanWebhook)
	if err != nil {
		return err
	}
	for _, h := range hooks {
		id := newID()
		data, err := body(id, r, b)
		if err != nil {
			return err
		}
		if _, err := c.exec(ctx, `INSERT INTO webhook_deliveries (id, hook_id, event, body, state, next_at, created_at)
			VALUES (?, ?, 'run.finished', ?, 'pending', ?, ?)`, id, h.ID, data, dbTime(now), dbTime(now)); err != nil {
			return err
		}
	}
	_, err = c.exec(ctx, `UPDATE run_events SET done = TRUE WHERE run_id = ?`, runID)
	return err
}

const deliveryCols = `d.id, d.hook_id, d.event, d.body, d.state, d.attempts, d.next_at,
	d.last_status, d.last_error, d.created_at, d.delivered_at`

func scanDelivery(r row, more ...any) (store.Delivery, error) {
	var d store.Delivery
	var state string
	var next, created int64
	var delivered sql.NullInt64
	dest := append([]any{&d.ID, &d.HookID, &d.Event, &d.Body, &state, &d.Attempts, &next,
		&d.LastStatus, &d.LastError, &created, &delivered}, more...)
	if err := r.Scan(dest...); err != nil {
		return d, err
	}
	d.State, d.NextAt, d.CreatedAt, d.DeliveredAt = store.DeliveryState(state), goTime(next), goTime(created), goTimePtr(delivered)
	return d, nil
}

// ClaimDeliveries leases due deliveries: picked and locked (SKIP LOCKED
// on PostgreSQL) in one transaction with their lease, so two replicas
// never send one at the same time.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Delivery, error) {
	var out []store.Delivery
	err := s.inTx(ctx, func(c conn) error {
		rows, err := c.query(ctx, `SELECT `+deliveryCols+`, h.url, h.secret FROM webhook_deliveries d
			JOIN webhooks h ON h.id = d.hook_id
			WHERE d.state = 'pending' AND d.next_at <= ? AND (d.lease_until IS NULL OR d.lease_until < ?)
			ORDER BY d.next_at, d.id LIMIT ?`+s.d.SkipLocked, dbTime(now), dbTime(now), limit)
		if err != nil {
			return err
		}
		claimed, err := collect(rows, func(r row) (store.Delivery, error) {
			var url, secret string
			d, err := scanDelivery(r, &url, &secret)
			d.URL, d.Secret = url, secret
			return d, err
		})
		if err != nil || len(claimed) == 0 {
			return err
		}
		ids := make([]string, len(claimed))
		for i, d := range claimed {
			ids[i] = d.ID
		}
		for chunk := range slices.Chunk(ids, resourcesChunk) {
			marks, args := inList(chunk)
			if _, err := c.exec(ctx, `UPDATE webhook_deliveries SET lease_until = ? WHERE id IN (`+marks+`)`,
				append([]any{dbTime(now.Add(lease))}, args...)...); err != nil {
				return err
			}
		}
		out = claimed
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return out, nil
}

func (s *Store) FinishAttempt(ctx context.Context, id string, a store.Attempt) error {
	var delivered any
	if a.State == store.DeliveryDelivered {
		delivered = dbTime(a.At)
	}
	res, err := s.pool().exec(ctx, `UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, next_at = ?,
		lease_until = NULL, last_status = ?, last_error = ?, delivered_at = ? WHERE id = ?`,
		string(a.State), dbTime(a.NextAt), a.Status, a.Error, delivered, id)
	if err != nil {
		return fmt.Errorf("finish delivery attempt: %w", err)
	}
	return affected(res, "delivery", id)
}

func (s *Store) RecentDeliveries(ctx context.Context, hookIDs []string, perHook int) (map[string][]store.Delivery, error) {
	out := map[string][]store.Delivery{}
	for _, id := range hookIDs {
		rows, err := s.pool().query(ctx, `SELECT `+deliveryCols+` FROM webhook_deliveries d WHERE d.hook_id = ?
			ORDER BY d.created_at DESC, d.id DESC LIMIT ?`, id, perHook)
		if err != nil {
			return nil, fmt.Errorf("recent deliveries: %w", err)
		}
		ds, err := collect(rows, func(r row) (store.Delivery, error) { return scanDelivery(r) })
		if err != nil {
			return nil, fmt.Errorf("recent deliveries: %w", err)
		}
		out[id] = ds
	}
	return out, nil
}

func (s *Store) PruneDeliveries(ctx context.Context, before time.Time) (int, error) {
	res, err := s.pool().exec(ctx, `DELETE FROM webhook_deliveries WHERE state <> 'pending' AND created_at < ?`, dbTime(before))
	if err != nil {
		return 0, fmt.Errorf("prune deliveries: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
