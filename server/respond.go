package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/token"
)

// httpError is an error that knows its status code. Handlers return them;
// writeError turns them into {"error": ...} bodies.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) error {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// handlerFunc is an http handler that returns its error instead of writing
// it, so every failure goes through one place.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) wrap(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg, gone := s.answer(w, r, err)
	if gone {
		return // the client went away; nobody to answer
	}
	writeJSON(w, code, api.Error{Error: msg})
}

// answer is how the API and the UI answer an error: its status and a
// message for the client, store failures logged and hidden, Retry-After
// set while the database cannot be written. gone: the client went away.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, err error) (code int, msg string, gone bool) {
	var he *httpError
	switch {
	case errors.As(err, &he):
	case errors.Is(err, store.ErrNotFound):
		he = &httpError{http.StatusNotFound, "not found"}
	case errors.Is(err, store.ErrConflict):
		he = &httpError{http.StatusConflict, "conflict"}
	case errors.Is(err, store.ErrForbidden):
		he = &httpError{http.StatusForbidden, "forbidden"}
	case errors.Is(err, r.Context().Err()) && r.Context().Err() != nil:
		return 0, "", true
	case s.health.failed(err): // logged there, at most every 10s
		w.Header().Set("Retry-After", unwritableRetry)
		he = &httpError{http.StatusServiceUnavailable, unwritableMsg}
	default:
		s.log.Error().Str("error", token.Redact(err.Error())).Str("method", methodLabel(r.Method)).Str("route", r.Pattern).Msg("request failed")
		he = &httpError{http.StatusInternalServerError, "internal error"}
	}
	// Messages quote ids from the path; a token pasted as one is masked.
	return he.code, token.Redact(he.msg), false
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	setJSONHeaders(w.Header())
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// setJSONHeaders marks an answer as JSON that no cache may keep; a parked
// poll (park.go), which writes its answer itself, sets them too.
func setJSONHeaders(h http.Header) {
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
}

// decode reads a JSON body into v. An empty body is accepted when optional
// is true (optional bodies such as a rerun's); an oversized one is 413.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	// A user's misspelt key is a mistake to report, not to ignore. Agents
	// stay lenient so a newer agent can still talk to an older server.
	p, ok := principalFrom(r.Context())
	return s.decodeBody(w, r, v, optional, !ok || p.Kind != token.Agent)
}

// decodeBody is decode with the strictness given: strict refuses unknown
// keys. Every body must be declared JSON (415 otherwise), and in every
// body a key given twice, or a field's name in another case, is 400
// (checkKeys): encoding/json alone would quietly pick one reading.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any, optional, strict bool) error {
	tooBig := errorf(http.StatusRequestEntityTooLarge, "request body over %d bytes", s.cfg.MaxBodyBytes)
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return tooBig
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return tooBig
	case err != nil:
		return errorf(http.StatusBadRequest, "reading the request body: %v", err)
	case len(bytes.TrimSpace(data)) == 0 && optional:
		return nil
	case len(bytes.TrimSpace(data)) == 0:
		return errorf(http.StatusBadRequest, "request body is empty; a JSON object is required")
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		return errorf(http.StatusUnsupportedMediaType, "request body must be JSON sent as Content-Type: application/json")
	}
	if err := checkKeys(data, reflect.TypeOf(v), strict); isKeyError(err) {
		return errorf(http.StatusBadRequest, "%v", err)
	} else if err != nil {
		return errorf(http.StatusBadRequest, "malformed JSON body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "malformed JSON body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errorf(http.StatusBadRequest, "malformed JSON body: trailing data after the object")
	}
	return nil
}

// isJSON reports whether a Content-Type names JSON: application/json,
// with parameters such as charset=utf-8 or not. A missing one is not:
// every client of the API sends it.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}
