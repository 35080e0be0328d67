package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/argus-exec/argus/internal/ctxsleep"
)

// Retention (--retention): runs that ended longer ago than Config.Retention
// go, with their output and commands, and then batches recorded longer ago
// than that with no run left. A sweep deletes a chunk per transaction and
// pauses between chunks, so a first sweep over years of history never
// holds the database for long; each replica sweeps, and deleting what
// another replica already took is a no-op.

// retentionChunk is the most runs (or batches) one transaction deletes.
const retentionChunk = 500

// retentionPause is the rest between two chunks of one sweep.
const retentionPause = 50 * time.Millisecond

// newRetentionMetric counts what retention deleted, by kind.
func newRetentionMetric(reg *prometheus.Registry) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "argus_retention_deleted_total",
		Help: "Rows deleted by --retention, by kind: runs, batches, commands and log_pieces (pieces of run output).",
	}, []string{"kind"})
	for _, k := range []string{"runs", "batches", "commands", "log_pieces"} {
		c.WithLabelValues(k)
	}
	reg.MustRegister(c)
	return c
}

// retain sweeps every Config.RetentionSweep until ctx ends; nothing when
// Retention is 0 (keep everything).
func (s *Server) retain(ctx context.Context) {
	if s.cfg.Retention <= 0 {
		return
	}
	tick := time.NewTicker(s.cfg.RetentionSweep)
	defer tick.Stop()
	for {
		if err := s.sweep(ctx); err != nil && ctx.Err() == nil && !s.health.failed(err) {
			s.log.Warn().Err(err).Msg("retention sweep failed; retrying at the next one")
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sweep deletes, chunk by chunk, what is older than the retention: runs
// first (a batch goes only once its runs have).
func (s *Server) sweep(ctx context.Context) error {
	before := s.cfg.Now().Add(-s.cfg.Retention)
	deleted := s.metrics.retention
	for {
		p, err := s.store.PruneRuns(ctx, before, retentionChunk)
		if err != nil {
			return err
		}
		deleted.WithLabelValues("runs").Add(float64(p.Runs))
		deleted.WithLabelValues("commands").Add(float64(p.Commands))
		deleted.WithLabelValues("log_pieces").Add(float64(p.LogPieces))
		if p.Runs < retentionChunk {
			break
		}
		if !ctxsleep.Sleep(ctx, retentionPause) {
			return ctx.Err()
		}
	}
	for {
		n, err := s.store.PruneBatches(ctx, before, retentionChunk)
		if err != nil {
			return err
		}
		deleted.WithLabelValues("batches").Add(float64(n))
		if n < retentionChunk {
			return nil
		}
		if !ctxsleep.Sleep(ctx, retentionPause) {
			return ctx.Err()
		}
	}
}
