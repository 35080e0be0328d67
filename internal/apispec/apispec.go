// Package apispec checks HTTP traffic against argus-server's OpenAPI
// document, server/api/openapi.yaml (api.OpenAPI). Tests put Transport (or
// its testing conveniences Wrap and Client) between their HTTP client and a
// real server; every request and its answer are then checked against the
// document, and any mismatch is reported: an operation the document does not
// describe, a status code it does not list for the operation, a header or a
// body that does not match its schema, a body where it declares none, or a
// request the document forbids that the server nevertheless accepted. So the
// document cannot drift from the code without a test failing.
//
// What lives here is only the checking. The document itself lives in
// server/api; the server, its routes and its tests live in server. Web UI
// paths are not in the document and pass unchecked (see Described).
package apispec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/argus-exec/argus/server/api"
)

// spec is the loaded document and its router, built once per process and
// only read afterwards, so every transport shares it.
type spec struct {
	doc    *openapi3.T
	router routers.Router
}

var (
	loadOnce   sync.Once
	loaded     *spec
	errLoading error
)

// load parses api.OpenAPI and validates the document itself, once.
func load() (*spec, error) {
	loadOnce.Do(func() {
		ctx := context.Background()
		doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI)
		if err != nil {
			errLoading = fmt.Errorf("server/api/openapi.yaml does not parse: %w", err)
			return
		}
		if err := doc.Validate(ctx, openapi3.EnableExamplesValidation()); err != nil {
			errLoading = fmt.Errorf("server/api/openapi.yaml is not a valid OpenAPI document: %w", err)
			return
		}
		// The router matches request URLs against the servers list, and a
		// test server's loopback host:port is in no list. The document's
		// only server is "/" (the server itself), so routing by path alone
		// is the same thing; the router gets a copy without servers.
		bare := *doc
		bare.Servers = nil
		router, err := legacy.NewRouter(&bare)
		if err != nil {
			errLoading = fmt.Errorf("routing server/api/openapi.yaml: %w", err)
			return
		}
		loaded = &spec{doc: doc, router: router}
	})
	return loaded, errLoading
}

// Doc is the parsed and validated document. Callers must not modify it.
func Doc() (*openapi3.T, error) {
	s, err := load()
	if err != nil {
		return nil, err
	}
	return s.doc, nil
}

// Routes lists the document's operations as "METHOD /path" with the
// path's parameters in braces, as Go's ServeMux patterns write them
// ("GET /api/runs/{run_id}"), sorted.
func Routes() ([]string, error) {
	s, err := load()
	if err != nil {
		return nil, err
	}
	var out []string
	for path, item := range s.doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, method+" "+path)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Described reports whether a URL path belongs to the part of the server
// the document describes: the JSON API under /api/, and /healthz and
// /metrics. Everything else is the web UI's (HTML pages, forms, a
// stylesheet), which the document leaves out on purpose; requests there
// pass unchecked.
func Described(path string) bool {
	return strings.HasPrefix(path, "/api/") || path == "/healthz" || path == "/metrics"
}

// Mismatch is one exchange that does not match the document.
type Mismatch struct {
	Method string
	Path   string // the request's URL path and query
	Status int    // the answer's status code
	Reason string // what does not match, with the validator's message
}

func (m *Mismatch) Error() string {
	return fmt.Sprintf("%s %s → %d does not match server/api/openapi.yaml: %s", m.Method, m.Path, m.Status, m.Reason)
}

// Transport returns a RoundTripper that sends each request through base
// (http.DefaultTransport when nil) and checks it and its answer against
// the document, calling fail with a *Mismatch for each mismatch (or with
// the error that kept the document from loading). The answer's body is read
// in full to be checked and handed back unread, so the caller sees the
// exchange as if nothing stood in between; a long-poll therefore returns
// when its whole answer is in, as it would for any caller that reads it.
// fail may be called from any goroutine that makes requests.
func Transport(base http.RoundTripper, fail func(error)) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{base: base, fail: fail}
}

// Wrap is Transport reporting through t.Errorf, so a mismatch fails the
// test without stopping it (t.Errorf is safe from any goroutine, unlike
// t.Fatal).
func Wrap(t testing.TB, base http.RoundTripper) http.RoundTripper {
	return Transport(base, func(err error) { t.Errorf("%v", err) })
}

// Client returns a copy of base (of a zero http.Client when nil) whose
// transport is wrapped by Wrap: the usual way to give a test a checked
// client.
func Client(t testing.TB, base *http.Client) *http.Client {
	var c http.Client
	if base != nil {
		c = *base
	}
	c.Transport = Wrap(t, c.Transport)
	return &c
}

type transport struct {
	base http.RoundTripper
	fail func(error)
}

// options are the validator's settings. Authentication is the server's to
// check: the document only declares which scheme an operation takes, so
// any credentials are accepted here, and tests of bad tokens are judged
// by their answers. Undocumented status codes are mismatches; formats
// such as date-time are checked. Messages name the failing field by its
// JSON pointer without dumping the whole schema; the report quotes the
// start of the body instead.
var options = &openapi3filter.Options{
	AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
	IncludeResponseStatus: true,
	MultiError:            true,
	SchemaValidationOptions: []openapi3.SchemaValidationOption{
		openapi3.EnableFormatValidation(), openapi3.DisableSchemaErrorDetails(),
	},
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	s, err := load()
	if err != nil {
		t.fail(fmt.Errorf("apispec: %w", err))
		return t.base.RoundTrip(req)
	}
	if !Described(req.URL.Path) || req.Method == http.MethodHead {
		return t.base.RoundTrip(req)
	}
	// The body is read once, here, and each reader gets its own copy: the
	// request that goes out and the one the validator consumes.
	body, hasBody, err := readBody(req)
	if err != nil {
		return nil, err
	}
	out := withBody(req, body, hasBody)
	route, params, routeErr := s.router.FindRoute(out)
	var in *openapi3filter.RequestValidationInput
	var reqErr error
	if routeErr == nil {
		in = &openapi3filter.RequestValidationInput{
			Request: withBody(req, body, hasBody), PathParams: params, Route: route, Options: options,
		}
		reqErr = openapi3filter.ValidateRequest(context.WithoutCancel(req.Context()), in)
	}

	resp, err := t.base.RoundTrip(out)
	if err != nil {
		return resp, err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		// A cut-off answer (the caller's deadline, a dropped connection)
		// cannot be checked; the caller gets the same bytes and error.
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(data), errReader{err}))
		return resp, nil
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))

	var reason string
	if routeErr != nil {
		reason = unrouted(resp, data, routeErr)
	} else {
		reason = checkExchange(in, resp, data, reqErr)
	}
	if reason != "" {
		t.fail(&Mismatch{Method: req.Method, Path: req.URL.RequestURI(), Status: resp.StatusCode, Reason: reason})
	}
	return resp, nil
}

// checkExchange checks a routed exchange and says what is wrong, or "".
func checkExchange(in *openapi3filter.RequestValidationInput, resp *http.Response, data []byte, reqErr error) string {
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: options,
	}
	out.SetBodyBytes(data)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return "answer: " + err.Error() + "; body: " + excerpt(data)
	}
	// The validator skips the body when the document declares none (a
	// 204, say); an answer that has one anyway is a mismatch too.
	if r := in.Route.Operation.Responses.Status(resp.StatusCode); r != nil && r.Value != nil &&
		len(r.Value.Content) == 0 && len(data) > 0 {
		return fmt.Sprintf("answer has a %d-byte body where the document declares none", len(data))
	}
	// A request the document forbids is how tests probe the server's
	// refusals: fine when refused (the answer was checked above), a
	// mismatch when accepted, since then the document is stricter than
	// the server.
	if reqErr != nil && resp.StatusCode < 400 {
		return "the server accepted a request the document forbids: " + reqErr.Error()
	}
	return ""
}

// unrouted judges an exchange the document has no operation for. Only the
// server's own answer for a path or method it has no route for passes, a
// 404 or 405 reading exactly {"error": "Not Found"} or {"error": "Method Not
// Allowed"} (the document's introduction describes it): that answer shows
// the server has no route there either. Any other answer means the server
// handles something the document does not describe.
func unrouted(resp *http.Response, data []byte, routeErr error) string {
	if code := resp.StatusCode; code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
		var e map[string]any
		if json.Unmarshal(data, &e) == nil && len(e) == 1 && e["error"] == http.StatusText(code) &&
			strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			return ""
		}
	}
	var re *routers.RouteError
	if errors.As(routeErr, &re) {
		return "no operation in the document for this method and path (" + re.Reason + ")"
	}
	return "no operation in the document for this method and path: " + routeErr.Error()
}

// excerpt is the start of a body, for a report.
func excerpt(data []byte) string {
	const max = 400
	if len(data) > max {
		return strings.TrimSpace(string(data[:max])) + "…"
	}
	return strings.TrimSpace(string(data))
}

// readBody reads the request's body whole, closing it as a RoundTripper
// must. hasBody is false for a request sent without one.
func readBody(req *http.Request) (body []byte, hasBody bool, err error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, false, nil
	}
	defer req.Body.Close()
	body, err = io.ReadAll(req.Body)
	return body, true, err
}

// withBody is a copy of req carrying its own reader over body. The caller's
// request is never modified, as the RoundTripper contract asks.
func withBody(req *http.Request, body []byte, hasBody bool) *http.Request {
	r := req.Clone(req.Context())
	if !hasBody {
		r.Body, r.GetBody = req.Body, nil
		return r
	}
	r.ContentLength = int64(len(body))
	if len(body) == 0 {
		// A non-nil Body with length 0 would go out chunked.
		r.Body, r.GetBody = http.NoBody, nil
		return r
	}
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.Body, _ = r.GetBody()
	return r
}

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
