package client

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Sentinels for the answers callers act on. Test with errors.Is; the
// *APIError behind them carries the server's message.
var (
	ErrBadRequest   = errors.New("bad request")       // 400
	ErrUnauthorized = errors.New("unauthorized")      // 401: token missing, unknown or revoked
	ErrForbidden    = errors.New("forbidden")         // 403
	ErrNotFound     = errors.New("not found")         // 404
	ErrConflict     = errors.New("conflict")          // 409
	ErrTooLarge     = errors.New("request too large") // 413

	// ErrInsecureRedirect means an https:// server redirected to plain
	// http://; the request was not followed, so the token never left TLS.
	ErrInsecureRedirect = errors.New("refusing redirect from https to plain http")
)

// APIError is a 4xx/5xx answer from the server.
type APIError struct {
	StatusCode int
	Message    string // the server's {"error": ...}, one line, may be empty
	Method     string
	Path       string
	// FromArgus is true when the body was argus-server's own JSON error:
	// the route exists. Go's router answers a route it does not have (an
	// older server's) with plain text, so a 404 without it means "no such
	// route", and with it "no such thing".
	FromArgus bool
	// RetryAfter is a 429's or 503's Retry-After (0: none). One longer
	// than the client's RetryWaitMax was not retried: come back then.
	RetryAfter time.Duration
}

// Error reads like "POST /api/batches/x/rerun: 409 Conflict: no agent
// online for host gpu-01".
func (e *APIError) Error() string {
	s := strings.TrimSpace(fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode)))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is maps the status code to its sentinel, so errors.Is(err, ErrNotFound)
// works through any wrapping.
func (e *APIError) Is(target error) bool {
	want, ok := map[error]int{
		ErrBadRequest:   http.StatusBadRequest,
		ErrUnauthorized: http.StatusUnauthorized,
		ErrForbidden:    http.StatusForbidden,
		ErrNotFound:     http.StatusNotFound,
		ErrConflict:     http.StatusConflict,
		ErrTooLarge:     http.StatusRequestEntityTooLarge,
	}[target]
	return ok && e.StatusCode == want
}

// redactedError keeps a transport error's chain for errors.Is/As while
// making sure its text can never carry the token, whatever a lower layer
// chose to quote.
type redactedError struct {
	err   error
	token string
}

func (e *redactedError) Error() string { return oneLine(redact(e.err.Error(), e.token), 500) }
func (e *redactedError) Unwrap() error { return e.err }

func redact(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, "[redacted]")
}

// oneLine folds whitespace runs (newlines included) into single spaces and
// truncates, so every error prints as one line.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
