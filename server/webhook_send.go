package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// Sending webhooks. Every replica runs the same loop: turn noted run ends
// into deliveries (the store hands each end to one replica), claim due
// deliveries under a lease (one replica sends a delivery at a time), POST
// each, record the attempt. A delivery's body is fixed when it is made,
// so every attempt carries the same bytes, delivery id and signature:
// receivers deduplicate on Argus-Delivery (delivery is at least once).
// Failures retry with exponential backoff and jitter for a day before
// the delivery is given up; everything lives in the store, so a restart
// loses nothing.

const (
	webhookEvery    = 500 * time.Millisecond // how often the loop looks, besides wake-ups
	webhookLease    = 30 * time.Second       // a claimed delivery's lease: past the send timeout
	webhookTimeout  = 15 * time.Second       // one attempt, connection to the end of the answer
	webhookWindow   = 25 * time.Hour         // retried for at least 24 h
	webhookFirstGap = 2 * time.Second        // the first retry; doubling up to webhookMaxGap
	webhookMaxGap   = time.Hour
	webhookBatch    = 20                 // deliveries claimed at once
	webhookSenders  = 8                  // sent at once by one replica
	webhookKeep     = 7 * 24 * time.Hour // finished deliveries listed this long
)

// webhooks is the sending side's state.
type webhooks struct {
	client   *http.Client
	wake     chan struct{}
	attempts *prometheus.CounterVec
}

func newWebhooks(allowPrivate bool, reg *prometheus.Registry) *webhooks {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "argus_webhook_attempts_total",
		Help: "Webhook delivery attempts by result: delivered, failed (to be retried) or gave_up (after the retry window).",
	}, []string{"result"})
	for _, r := range []string{"delivered", "failed", "gave_up"} {
		c.WithLabelValues(r)
	}
	reg.MustRegister(c)
	return &webhooks{client: webhookClient(allowPrivate), wake: make(chan struct{}, 1), attempts: c}
}

// webhookClient never follows a redirect (the receiver is the hook's URL,
// not wherever it points), bounds every phase, and, unless private
// addresses are allowed, refuses to connect to one whatever the name
// resolved to this time.
func webhookClient(allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if !allowPrivate {
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err == nil && internalAddr(ap.Addr()) {
				return fmt.Errorf("%s is an internal address (allowed only with --webhook-allow-private)", ap.Addr())
			}
			return err
		}
	}
	return &http.Client{
		Timeout: webhookTimeout,
		Transport: &http.Transport{
			DialContext: dialer.DialContext, TLSHandshakeTimeout: 5 * time.Second,
			ResponseHeaderTimeout: 10 * time.Second, MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second,
			Proxy: nil, // a proxy would hide where the request really goes
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// wakeWebhooks tells this replica's loop that a run may have ended.
func (s *Server) wakeWebhooks() {
	select {
	case s.webhooks.wake <- struct{}{}:
	default:
	}
}

// sendWebhooks is the loop, until ctx ends.
func (s *Server) sendWebhooks(ctx context.Context) {
	tick := time.NewTicker(webhookEvery)
	defer tick.Stop()
	pruned := time.Time{}
	for {
		if err := s.webhookRound(ctx); err != nil && ctx.Err() == nil && !s.health.failed(err) {
			s.log.Warn().Err(err).Msg("webhooks: a round failed; trying again shortly")
		}
		if now := s.cfg.Now(); now.Sub(pruned) > time.Hour {
			pruned = now
			if _, err := s.store.PruneDeliveries(ctx, now.Add(-webhookKeep)); err != nil && ctx.Err() == nil {
				s.log.Warn().Err(err).Msg("webhooks: pruning old deliveries failed")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.webhooks.wake:
		}
	}
}

// ExpandRunEnds turns every run end noted so far into its deliveries now,
// as the sending loop does on its own (tests; Serve runs the loop).
func (s *Server) ExpandRunEnds(ctx context.Context) error {
	for {
		n, err := s.store.ExpandRunEvents(ctx, 100, s.cfg.Now().UTC(), func() string { return newID("dlv") }, runFinishedBody)
		if err != nil || n < 100 {
			return err
		}
	}
}

// webhookRound expands every noted run end, then sends what is due.
func (s *Server) webhookRound(ctx context.Context) error {
	if err := s.ExpandRunEnds(ctx); err != nil {
		return err
	}
	for {
		due, err := s.store.ClaimDeliveries(ctx, s.cfg.Now().UTC(), webhookLease, webhookBatch)
		if err != nil || len(due) == 0 {
			return err
		}
		s.sendAll(ctx, due)
		if len(due) < webhookBatch {
			return nil
		}
	}
}

// runFinishedBody is a delivery's fixed body.
func runFinishedBody(deliveryID string, r store.Run, b store.Batch) ([]byte, error) {
	return json.Marshal(api.RunFinished{Event: api.EventRunFinished, Delivery: deliveryID, Run: r.API(),
		Batch: api.BatchRef{ID: b.ID, Name: b.Name, Project: b.Project}})
}

// sendAll sends claimed deliveries, a few at a time, and records each.
func (s *Server) sendAll(ctx context.Context, due []store.Delivery) {
	sem := make(chan struct{}, webhookSenders)
	var wg sync.WaitGroup
	for _, d := range due {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			a := s.tryDelivery(ctx, d)
			if err := s.store.FinishAttempt(context.WithoutCancel(ctx), d.ID, a); err != nil {
				s.log.Warn().Err(err).Str("delivery", d.ID).Msg("webhooks: recording an attempt failed; it is tried again after its lease")
			}
		}()
	}
	wg.Wait()
}

// tryDelivery POSTs one delivery and says what became of it.
func (s *Server) tryDelivery(ctx context.Context, d store.Delivery) store.Attempt {
	status, err := s.post(ctx, d)
	now := s.cfg.Now().UTC()
	a := store.Attempt{At: now, Status: status, State: store.DeliveryDelivered, NextAt: now}
	if err == nil {
		s.webhooks.attempts.WithLabelValues("delivered").Inc()
		return a
	}
	a.Error = err.Error()
	if len(a.Error) > 500 {
		a.Error = a.Error[:500]
	}
	if ctx.Err() != nil {
		// Cut short by this server's shutdown, not the receiver's fault:
		// due again at once, for this server after its restart or another.
		s.webhooks.attempts.WithLabelValues("failed").Inc()
		a.State, a.NextAt, a.Error = store.DeliveryPending, now, "interrupted: the server was shutting down"
		return a
	}
	if now.Sub(d.CreatedAt) >= webhookWindow {
		s.webhooks.attempts.WithLabelValues("gave_up").Inc()
		s.log.Warn().Str("delivery", d.ID).Str("hook", d.HookID).Str("error", a.Error).Msg("webhooks: delivery given up after the retry window")
		a.State = store.DeliveryFailed
		return a
	}
	s.webhooks.attempts.WithLabelValues("failed").Inc()
	a.State, a.NextAt = store.DeliveryPending, now.Add(retryGap(d.Attempts+1))
	return a
}

// retryGap is the wait before attempt n+1 after n failed: doubling from
// webhookFirstGap up to webhookMaxGap, with ±20 % jitter so that hooks
// failing together do not retry together.
func retryGap(failed int) time.Duration {
	gap := webhookMaxGap
	if failed < 20 {
		gap = min(webhookFirstGap<<(failed-1), webhookMaxGap)
	}
	return time.Duration(float64(gap) * (0.8 + 0.4*rand.Float64()))
}

// post sends d once: nil error only for a 2xx answer.
func (s *Server) post(ctx context.Context, d store.Delivery) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "argus-server/webhooks")
	req.Header.Set(api.HeaderEvent, d.Event)
	req.Header.Set(api.HeaderDelivery, d.ID)
	req.Header.Set(api.HeaderSignature, api.Signature(d.Secret, d.Body))
	resp, err := s.webhooks.client.Do(req)
	if err != nil {
		var uerr interface{ Unwrap() error }
		if errors.As(err, &uerr) && uerr.Unwrap() != nil {
			err = uerr.Unwrap() // drop the "Post \"url\":" preamble: the hook's URL is known
		}
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // bounded: the answer is not ours to read
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return resp.StatusCode, nil
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return resp.StatusCode, fmt.Errorf("%s, to %q: redirects are not followed", resp.Status, resp.Header.Get("Location"))
	}
	return resp.StatusCode, errors.New(resp.Status)
}
