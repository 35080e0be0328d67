package testenv

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// PollInterval is how often conditions are checked while waiting for them.
const PollInterval = 20 * time.Millisecond

// permanentError stops a poll at once: waiting longer cannot help (the
// process it waits for has exited).
type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

func permanent(err error) error { return permanentError{err} }

// poll calls check every PollInterval until it returns nil, returns a
// permanent error, or ctx ends; then the last error says what was missing.
func poll(ctx context.Context, check func() error) error {
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return nil
		}
		var p permanentError
		if errors.As(err, &p) {
			return p.err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// Poll calls check every PollInterval until it returns nil or within
// passes, and then returns check's last error.
func Poll(ctx context.Context, within time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	return poll(ctx, check)
}
