package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// target is what the load generator repeats: one method and expected
// status, over one or more URLs with their headers (one per agent, say).
type target struct {
	Name   string
	Method string
	Reqs   []request
	// Want is the only status accepted; any other aborts the round, so a
	// server that fails fast cannot post a good figure.
	Want int
}

// request is one URL and the headers sent with it.
type request struct {
	URL    string
	Header http.Header
}

// loadConfig shapes one round of load.
type loadConfig struct {
	// Concurrency is the number of workers, each with a request in flight
	// at all times over its own keep-alive connection.
	Concurrency int
	// Duration is how long a round is measured.
	Duration time.Duration
	// Warmup runs before the measured part of a round and is discarded:
	// it opens the connections and lets the server reach a steady state.
	Warmup time.Duration
}

// loadResult is what one round measured.
type loadResult struct {
	Target   string
	Requests int
	Elapsed  time.Duration
	P50, P99 time.Duration
}

// RPS is completed requests per second of measured time.
func (r loadResult) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// runLoad drives t with cfg.Concurrency closed-loop workers: each sends
// its next request as soon as the last one is answered, so throughput is
// what the server sustains, not what an open-loop schedule asks of it.
func runLoad(ctx context.Context, cfg loadConfig, t target) (loadResult, error) {
	if len(t.Reqs) == 0 || cfg.Concurrency < 1 {
		return loadResult{}, fmt.Errorf("%s: nothing to send", t.Name)
	}
	// A transport per round, so no connection outlives the target it was
	// opened to, and no proxy from the environment sits in the path.
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: cfg.Concurrency,
		MaxConnsPerHost:     cfg.Concurrency,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	ctx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	start := time.Now()
	measureFrom := start.Add(cfg.Warmup)
	end := measureFrom.Add(cfg.Duration)

	lat := make([][]time.Duration, cfg.Concurrency)
	last := make([]time.Time, cfg.Concurrency) // each worker's last answer
	var wg sync.WaitGroup
	for i := range cfg.Concurrency {
		wg.Go(func() {
			lat[i] = make([]time.Duration, 0, 1<<14)
			// Workers start at different requests and step through all of
			// them, so every URL gets its share at any concurrency.
			for k := i; ; k++ {
				sent := time.Now()
				if !sent.Before(end) || ctx.Err() != nil {
					return
				}
				if err := send(ctx, client, t.Method, t.Reqs[k%len(t.Reqs)], t.Want); err != nil {
					abort(err)
					return
				}
				got := time.Now()
				// Only requests sent inside the window count: one sent in
				// the warm-up belongs to it even when it ends later.
				if !sent.Before(measureFrom) {
					lat[i] = append(lat[i], got.Sub(sent))
					last[i] = got
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return loadResult{}, fmt.Errorf("%s: %w", t.Name, err)
	}

	all := slices.Concat(lat...)
	if len(all) == 0 {
		return loadResult{}, fmt.Errorf("%s: no request completed in %s", t.Name, cfg.Duration)
	}
	slices.Sort(all)
	// The window closes when the last counted answer arrived, so requests
	// still in flight at the deadline are measured, not cut off.
	stop := slices.MaxFunc(last, func(a, b time.Time) int { return a.Compare(b) })
	return loadResult{
		Target:   t.Name,
		Requests: len(all),
		Elapsed:  stop.Sub(measureFrom),
		P50:      quantile(all, 0.50),
		P99:      quantile(all, 0.99),
	}, nil
}

// send makes one request and reads the whole answer, so the connection
// goes back to the pool for the next one.
func send(ctx context.Context, client *http.Client, method string, r request, want int) error {
	req, err := http.NewRequestWithContext(ctx, method, r.URL, nil)
	if err != nil {
		return err
	}
	req.Header = r.Header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return context.Cause(ctx)
		}
		return err
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d %q, want %d", method, r.URL, resp.StatusCode, body, want)
	}
	return rerr
}

// quantile is the nearest-rank q-quantile of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
