// Package client is the Go client for argus-server's two HTTP APIs: the
// agent API (register, long-poll for jobs, ack, heartbeat, exit reports) and
// the user API (batches, reruns, runs, stops, agents, sharing). It is used by
// the argus CLI and by argus-agent.
//
// What lives here is transport policy: retries with backoff and jitter, TLS
// rules (no HTTPS→HTTP downgrade, custom CA bundle, explicit skip-verify),
// per-call deadlines, typed errors, and RecordEnv, the filter that keeps
// secrets out of recorded environments. What does not: the wire types (they
// are in server/api and used as they are), token caching (package token),
// running processes (package agent) and anything printed for humans
// (cmd/argus).
package client

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/hashicorp/go-retryablehttp"
	"github.com/rs/zerolog"
)

// Defaults applied by New to zero-valued Options fields.
const (
	DefaultTimeout      = 30 * time.Second
	DefaultRetryMax     = 4
	DefaultRetryWaitMin = 500 * time.Millisecond
	DefaultRetryWaitMax = 10 * time.Second

	// LongPollGrace is added to a long-poll's wait to get its deadline, so
	// the server's hold always ends (with an empty list) before the client
	// gives up on the request.
	LongPollGrace = 15 * time.Second
)

// Caps on what is read from a response, so a misbehaving server cannot make
// the client buffer without bound.
const (
	maxResponseBody = 64 << 20
	maxErrorBody    = 64 << 10
)

// Options configures a Client. The zero value is usable.
type Options struct {
	// Timeout bounds one ordinary call, retries and backoff included.
	// Long-polls (Jobs) get their own deadline from the wait they ask for.
	// Zero means DefaultTimeout.
	Timeout time.Duration

	// RetryMax is how many times a failed call is retried after the first
	// attempt. Zero means DefaultRetryMax; a negative value disables retries.
	RetryMax int
	// RetryWaitMin and RetryWaitMax bound the backoff between attempts; a
	// server's Retry-After is honoured up to RetryWaitMax. A longer one is
	// not waited out here: the call fails at once with an APIError whose
	// RetryAfter says when to come back, for the caller to honour.
	// Zero means DefaultRetryWaitMin / DefaultRetryWaitMax.
	RetryWaitMin time.Duration
	RetryWaitMax time.Duration

	// CACertFile is a PEM bundle that replaces the system roots for
	// verifying the server, for deployments with a private CA.
	CACertFile string
	// InsecureSkipVerify turns off server certificate verification. Only
	// for an operator who asks for it by name; never a default.
	InsecureSkipVerify bool

	// Logger receives retry attempts (debug/warn). The zero value logs
	// nothing.
	Logger zerolog.Logger

	// Version goes into the User-Agent as "argus-client/<version>";
	// empty means "dev".
	Version string

	// Transport, when set, sends every attempt instead of the client's own
	// transport (a clone of http.DefaultTransport with the TLS rules
	// above), so tests can put a checking or recording layer in between.
	// CACertFile and InsecureSkipVerify configure that own transport, so
	// New refuses them together with Transport. Retries, redirect rules
	// and deadlines still apply.
	Transport http.RoundTripper

	// IdleConnTimeout, when positive, closes a connection of the client's
	// own transport that has had no request for that long (default: Go's
	// 90s). An agent keeps it short: its held poll has a connection of
	// its own, and the one its acks used should not stay open beside it.
	IdleConnTimeout time.Duration

	// Observe, when set, is told how each call ended: with the server's
	// answer (its status and headers; the body is not Observe's to read),
	// or with nil when no answer came (the server unreachable, or the
	// call's own deadline passed). Calls ended by the caller's context are
	// not reported. An agent uses it to notice the server is back.
	Observe func(resp *http.Response)

	// Resources, when set, is asked for the agent's latest resources
	// report before each jobs poll and heartbeat, and a non-empty answer
	// goes with it as Argus-Resources. It must return at once (a cached
	// sample): the poll is the agent's heartbeat.
	Resources func() string
}

// Client calls argus-server. It is safe for concurrent use.
type Client struct {
	base      string // scheme://host[/prefix], no trailing slash
	token     string
	userAgent string
	timeout   time.Duration
	rc        *retryablehttp.Client
	observe   func(*http.Response)
	hc        *http.Client
	opts      Options // with defaults
}

// New returns a client for the server at baseURL that authenticates with
// token (em_live_ for the user API and for Register, ag_live_ for the other
// agent routes). An empty token sends no Authorization header.
func New(baseURL, token string, opts Options) (*Client, error) {
	base, err := parseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	if err := checkToken(token); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	hc, err := newHTTPClient(base.Scheme, opts)
	if err != nil {
		return nil, err
	}
	return &Client{
		base:      strings.TrimSuffix(base.String(), "/"),
		token:     token,
		userAgent: "argus-client/" + opts.Version,
		timeout:   opts.Timeout,
		rc:        newRetryClient(hc, opts),
		observe:   opts.Observe,
		hc:        hc,
		opts:      opts,
	}, nil
}

// WithToken returns a copy of c that sends tok instead, sharing c's
// connections: an agent registers with the user's em_live_ token and then
// switches to the ag_live_ token it was given.
func (c *Client) WithToken(tok string) *Client {
	cp := *c
	cp.token = strings.TrimSpace(tok)
	return &cp
}

// SingleAttempt returns a copy of c that makes one attempt per call, no
// retries, sharing c's connections: for a probe whose caller retries on
// its own schedule.
func (c *Client) SingleAttempt() *Client {
	cp := *c
	o := c.opts
	o.RetryMax = 0
	cp.rc = newRetryClient(c.hc, o)
	return &cp
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	switch {
	case o.RetryMax == 0:
		o.RetryMax = DefaultRetryMax
	case o.RetryMax < 0:
		o.RetryMax = 0
	}
	if o.RetryWaitMin <= 0 {
		o.RetryWaitMin = DefaultRetryWaitMin
	}
	if o.RetryWaitMax <= 0 {
		o.RetryWaitMax = DefaultRetryWaitMax
	}
	if o.RetryWaitMax < o.RetryWaitMin {
		o.RetryWaitMax = o.RetryWaitMin
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	return o
}

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("server URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("server URL %q: scheme must be http:// or https://", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("server URL %q: no host", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("server URL %q: must not have a query or fragment", u.Redacted())
	}
	return u, nil
}

// checkToken rejects tokens that cannot travel in a header. The error never
// quotes the token.
func checkToken(tok string) error {
	for _, r := range tok {
		if r <= ' ' || r == 0x7f {
			return errors.New("token contains whitespace or control characters (stray newline from a paste?)")
		}
	}
	return nil
}

// call describes one API request.
type call struct {
	method string
	path   string // escaped, starting with /api/
	query  url.Values
	in     any // JSON body, or nil for none
	out    any // decoded from a 2xx answer unless nil or 204
	// raw, when not nil, is the body as bytes (application/octet-stream)
	// instead of in; read, when not nil, reads a 2xx answer instead of out.
	raw  []byte
	read func(*http.Response) error
	// header, when not nil, is handed a 2xx answer's headers.
	header func(http.Header)
	// unsafe marks calls that must not be repeated once the server may have
	// acted on them (a repeated rerun would start a second training run).
	unsafe bool
	// idempotencyKey, when set, is sent as Idempotency-Key: the server
	// answers a repeat with the first answer, so the call may be retried
	// even after the server saw it.
	idempotencyKey string
	timeout        time.Duration // zero: the client's Timeout
	// resources: send Options.Resources' report (jobs polls, heartbeats).
	resources bool
}

// do runs one call: deadline, retries, status mapping and decoding.
func (c *Client) do(ctx context.Context, cl call) error {
	timeout := cl.timeout
	if timeout <= 0 {
		timeout = c.timeout
	}
	callerCtx := ctx
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, &timeoutError{after: timeout})
	defer cancel()
	if cl.unsafe {
		ctx = context.WithValue(ctx, unsafeCallKey{}, true)
	}

	req, err := c.newRequest(ctx, cl)
	if err != nil {
		return fmt.Errorf("%s %s: %w", cl.method, cl.path, err)
	}
	resp, err := c.rc.Do(req)
	if c.observe != nil && callerCtx.Err() == nil {
		c.observe(resp) // nil when err is set
	}
	if err != nil {
		return c.transportError(ctx, cl, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.apiError(cl, resp)
	}
	if cl.header != nil {
		cl.header(resp.Header)
	}
	if cl.read != nil {
		if err := cl.read(resp); err != nil {
			return fmt.Errorf("%s %s: read response: %w", cl.method, cl.path, err)
		}
		return nil
	}
	if cl.out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponseBody)).Decode(cl.out); err != nil {
		if cause := context.Cause(ctx); cause != nil {
			err = cause
		}
		return fmt.Errorf("%s %s: decode response: %w", cl.method, cl.path, err)
	}
	return nil
}

func (c *Client) newRequest(ctx context.Context, cl call) (*retryablehttp.Request, error) {
	target := c.base + cl.path
	if len(cl.query) > 0 {
		target += "?" + cl.query.Encode()
	}
	var body any
	if cl.in != nil {
		b, err := json.Marshal(cl.in)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		// A byte slice lets retryablehttp replay the body on every attempt.
		body = b
	}
	if len(cl.raw) > 0 {
		// An empty one stays nil: a zero-length body reader would be sent
		// chunked, which the server refuses.
		body = cl.raw
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, cl.method, target, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if cl.idempotencyKey != "" {
		req.Header.Set(api.HeaderIdempotencyKey, cl.idempotencyKey)
	}
	if cl.resources && c.opts.Resources != nil {
		if report := c.opts.Resources(); report != "" {
			req.Header.Set(api.HeaderResources, report)
		}
	}
	switch {
	case cl.raw != nil:
		req.Header.Set("Content-Type", "application/octet-stream")
	case body != nil:
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// transportError turns a failure to get any answer into one line that names
// the call. When our own deadline fired it says so instead of the bare
// "context deadline exceeded".
func (c *Client) transportError(ctx context.Context, cl call, err error) error {
	var te *timeoutError
	if cause := context.Cause(ctx); errors.As(cause, &te) {
		err = te
	}
	return fmt.Errorf("%s %s: %w", cl.method, cl.path, &redactedError{err: err, token: c.token})
}

// apiError reads a non-2xx answer into an *APIError.
func (c *Client) apiError(cl call, resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg, fromArgus := "", false
	var body struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error != "" {
		msg, fromArgus = body.Error, true
	} else if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("<")) {
		// Plain-text bodies (a proxy's "bad gateway") are worth showing;
		// HTML error pages are not.
		msg = string(raw)
	}
	var retryAfter time.Duration
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		retryAfter, _ = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return &APIError{
		RetryAfter: retryAfter,
		StatusCode: resp.StatusCode,
		Message:    oneLine(redact(msg, c.token), 300),
		Method:     cl.method,
		Path:       cl.path,
		FromArgus:  fromArgus,
	}
}

// newIdempotencyKey is a key no other call will choose: 128 random bits.
func newIdempotencyKey() string {
	b := make([]byte, 16)
	_, _ = crand.Read(b) // never fails (crypto/rand)
	return "argus-" + hex.EncodeToString(b)
}

// MayHaveActed says a failed call may still have been carried out by the
// server: its request may have reached it but no answer came back (a
// connection reset, a timeout). False for an answer, and for a connection
// that was never made.
func MayHaveActed(err error) bool {
	var ae *APIError
	return err != nil && !errors.As(err, &ae) && !neverSent(err) && !errors.Is(err, context.Canceled)
}

// unsafeCallKey marks, in a request's context, a call that must not be
// retried once the server may have received it.
type unsafeCallKey struct{}

func isUnsafeCall(ctx context.Context) bool {
	v, _ := ctx.Value(unsafeCallKey{}).(bool)
	return v
}

// timeoutError is the cause recorded when a call's own deadline fires.
type timeoutError struct{ after time.Duration }

func (e *timeoutError) Error() string        { return fmt.Sprintf("no answer within %s", e.after) }
func (e *timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }
