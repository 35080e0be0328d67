package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

const maxRedirects = 10

// newHTTPClient builds the one http.Client every call goes through. It has
// no Timeout on purpose: deadlines are per call (a long-poll needs far more
// than an ordinary call), carried by the request's context.
func newHTTPClient(baseScheme string, opts Options) (*http.Client, error) {
	if opts.Transport != nil {
		if opts.CACertFile != "" || opts.InsecureSkipVerify {
			return nil, errors.New("client options: Transport cannot be combined with CACertFile or InsecureSkipVerify")
		}
		return &http.Client{Transport: opts.Transport, CheckRedirect: refuseDowngrade(baseScheme)}, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyFromEnvironment
	tlsCfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Only ever true because the operator asked for it by name.
		InsecureSkipVerify: opts.InsecureSkipVerify, //nolint:gosec
	}
	if opts.CACertFile != "" {
		pool, err := loadCAPool(opts.CACertFile)
		if err != nil {
			return nil, err
		}
		tlsCfg.RootCAs = pool
	}
	tr.TLSClientConfig = tlsCfg
	if opts.IdleConnTimeout > 0 {
		tr.IdleConnTimeout = opts.IdleConnTimeout
	}
	return &http.Client{Transport: tr, CheckRedirect: refuseDowngrade(baseScheme)}, nil
}

// loadCAPool reads a PEM bundle into a fresh pool. A fresh pool rather than
// the system one: a private CA bundle is the whole trust the operator meant.
func loadCAPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA bundle %s: no PEM certificates found", path)
	}
	return pool, nil
}

// refuseDowngrade stops any redirect chain that started on https from
// continuing on plain http, before the redirected request (and its
// Authorization header) is sent.
func refuseDowngrade(baseScheme string) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		if req.URL.Scheme == "https" {
			return nil
		}
		if baseScheme == "https" || via[0].URL.Scheme == "https" {
			return fmt.Errorf("%w (to %s)", ErrInsecureRedirect, req.URL.Redacted())
		}
		return nil
	}
}

func newRetryClient(hc *http.Client, opts Options) *retryablehttp.Client {
	return &retryablehttp.Client{
		HTTPClient:   hc,
		Logger:       NewLogger(opts.Logger),
		RetryWaitMin: opts.RetryWaitMin,
		RetryWaitMax: opts.RetryWaitMax,
		RetryMax:     opts.RetryMax,
		CheckRetry:   retryPolicyUpTo(opts.RetryWaitMax),
		Backoff:      backoff,
		ErrorHandler: giveUp,
	}
}

// retryPolicyUpTo is retryPolicy, except that a 429 or 503 whose
// Retry-After is longer than waitMax (when positive) is not retried: the
// server asked for more patience than this client has between attempts,
// and the caller, told RetryAfter (APIError), honours it.
func retryPolicyUpTo(waitMax time.Duration) retryablehttp.CheckRetry {
	return func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		if err == nil && waitMax > 0 && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
			if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok && d > waitMax {
				return false, nil
			}
		}
		return retryPolicy(ctx, resp, err)
	}
}

// retryPolicy retries network errors, 429 and 5xx, and nothing else: other
// 4xx will not change on a second try, and certificate failures or a
// refused downgrade are configuration problems that retrying only hides.
// Calls marked unsafe are retried only when the server cannot have acted:
// the connection was never made, or it answered 429/503.
func retryPolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		if isPermanent(err) {
			return false, err
		}
		if isUnsafeCall(ctx) && !neverSent(err) {
			return false, err
		}
		// The library's own checks catch bad schemes, bad headers and
		// redirect loops.
		return retryablehttp.ErrorPropagatedRetryPolicy(ctx, resp, err)
	}
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests, code == http.StatusServiceUnavailable:
		return true, nil
	case isUnsafeCall(ctx):
		return false, nil
	case code >= 500 && code != http.StatusNotImplemented:
		return true, nil
	}
	return false, nil
}

func isPermanent(err error) bool {
	var (
		verifyErr    *tls.CertificateVerificationError
		authorityErr x509.UnknownAuthorityError
		hostErr      x509.HostnameError
		invalidErr   x509.CertificateInvalidError
		recordErr    tls.RecordHeaderError
		alertErr     tls.AlertError
	)
	return errors.Is(err, ErrInsecureRedirect) ||
		errors.As(err, &verifyErr) || errors.As(err, &authorityErr) ||
		errors.As(err, &hostErr) || errors.As(err, &invalidErr) ||
		errors.As(err, &recordErr) || errors.As(err, &alertErr)
}

// neverSent reports whether the request failed before a connection existed,
// so the server cannot have seen it.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// backoff is exponential with jitter, capped by max. A Retry-After on 429
// or 503 replaces it, still capped by max so a server cannot park a client
// for an hour.
func backoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return clamp(d, 0, hi)
		}
	}
	d := hi
	if attempt < 32 {
		if exp := lo << attempt; exp > 0 && exp < hi {
			d = exp
		}
	}
	// Keep half, randomise the other half: clients that failed together
	// spread out, yet none retries sooner than half the schedule.
	half := d / 2
	return half + rand.N(d-half+1)
}

// parseRetryAfter reads delta-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return clamp(at.Sub(now), 0, 24*time.Hour), true
}

func clamp(d, lo, hi time.Duration) time.Duration {
	return min(max(d, lo), hi)
}

// giveUp runs when retrying stops on an error or when retries are used up.
// A final HTTP answer is handed back as is, so the caller reports the
// server's status and message rather than "giving up".
func giveUp(resp *http.Response, err error, attempts int) (*http.Response, error) {
	if err == nil && resp != nil {
		return resp, nil
	}
	if resp != nil {
		resp.Body.Close()
	}
	if err == nil {
		err = errors.New("request failed")
	}
	// url.Error repeats method and full URL; the caller names the call.
	if uerr, ok := err.(*url.Error); ok {
		err = uerr.Err
	}
	if attempts > 1 {
		return nil, fmt.Errorf("giving up after %d attempts: %w", attempts, err)
	}
	return nil, err
}
