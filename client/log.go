package client

import (
	"github.com/hashicorp/go-retryablehttp"
	"github.com/rs/zerolog"
)

// NewLogger adapts a zerolog.Logger to retryablehttp.LeveledLogger. The
// library only ever logs the method and a redacted URL, never headers, so
// tokens stay out of logs.
func NewLogger(l zerolog.Logger) retryablehttp.LeveledLogger {
	return zlog{l: l}
}

type zlog struct{ l zerolog.Logger }

// Error is logged at debug: retryablehttp reports each failed attempt,
// most of which are retried, or were only cut short by the caller's
// context; the final verdict is the error returned to the caller, who
// reports it once (a CLI's one line, a daemon loop's warning).
func (z zlog) Error(msg string, kv ...any) { z.l.Debug().Fields(kv).Msg(msg) }
func (z zlog) Warn(msg string, kv ...any)  { z.l.Warn().Fields(kv).Msg(msg) }
func (z zlog) Info(msg string, kv ...any)  { z.l.Info().Fields(kv).Msg(msg) }
func (z zlog) Debug(msg string, kv ...any) { z.l.Debug().Fields(kv).Msg(msg) }
