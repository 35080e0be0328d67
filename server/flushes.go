package server

import (
	"context"
	"time"

	"github.com/rs/zerolog"
)

// writeBehind is what a written-behind record (heartbeats, token uses,
// resource reports) needs to be flushed on a timer.
type writeBehind struct {
	what  string // "heartbeat", "token last-used", …: for the log
	flush func(context.Context) error
	quiet func(error) bool // takes an error and says it was logged already (storehealth.go)
	log   zerolog.Logger
}

// run flushes every interval until ctx ends, then once more within 5 s,
// so a clean shutdown loses nothing.
func (wb writeBehind) run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := wb.flush(ctx); err != nil && (wb.quiet == nil || !wb.quiet(err)) {
				wb.log.Warn().Err(err).Msgf("%s flush failed; retrying next interval", wb.what)
			}
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := wb.flush(fctx); err != nil {
				wb.log.Warn().Err(err).Msgf("final %s flush failed", wb.what)
			}
			return
		}
	}
}
