package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestCanceledAttemptsAreNotWarnings(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := NewLogger(zerolog.New(&buf).Level(zerolog.InfoLevel))
	l.Error("request failed", "error", fmt.Errorf("Get x: %w", context.Canceled), "url", "http://h/x")
	if buf.Len() != 0 {
		t.Fatalf("a canceled attempt was logged at info or above: %s", buf.String())
	}
	l.Error("request failed", "error", errors.New("connection refused"), "url", "http://h/x")
	if buf.Len() != 0 {
		t.Fatalf("an attempt's failure was logged at info or above (the caller reports the final error): %s", buf.String())
	}
	debug := NewLogger(zerolog.New(&buf).Level(zerolog.DebugLevel))
	debug.Error("request failed", "error", errors.New("connection refused"), "url", "http://h/x")
	if !strings.Contains(buf.String(), `"level":"debug"`) || !strings.Contains(buf.String(), "connection refused") {
		t.Fatalf("attempt failures are not visible at debug: %s", buf.String())
	}
}
