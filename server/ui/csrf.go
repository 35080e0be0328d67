package ui

import (
	"crypto/hmac"
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
)

// CSRF defence for the web UI, in three layers, each enough on its own
// against today's browsers:
//
//  1. the session cookie is SameSite=Strict, so a cross-site form post
//     arrives without a session;
//  2. every state-changing POST must come from this origin: Sec-Fetch-Site
//     when the browser sends it, and the Origin (else Referer) host must be
//     the Host the request was sent to; a POST with neither is refused;
//  3. every form except login carries a token derived from the session
//     (HMAC of its per-login nonce), compared in constant time.
//
// Login has no session yet to derive a token from; layers 1 and 2 cover
// it (a cross-site login would sign the victim into the attacker's
// account).

const csrfField = "csrf"

// newKey returns the key that signs sessions, CSRF tokens and flash
// messages: the configured one, or a random one for this process.
func newKey(configured []byte) []byte {
	if len(configured) > 0 {
		return append([]byte(nil), configured...)
	}
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

// csrfToken is the hidden-field value of every form of the session.
func (u *UI) csrfToken(sess session) string {
	return b64.EncodeToString(u.mac("csrf", sess.Nonce+"|"+sess.UserID))
}

// validCSRF compares the form's token with the session's in constant time.
func (u *UI) validCSRF(r *http.Request, sess session) bool {
	got, err := b64.DecodeString(r.PostFormValue(csrfField))
	return err == nil && hmac.Equal(got, u.mac("csrf", sess.Nonce+"|"+sess.UserID))
}

// sameOrigin reports whether a POST provably comes from a page of this
// server. Behind a reverse proxy the proxy must pass the original Host.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none": // none: typed by the user, not a page
	default:
		return false
	}
	src := r.Header.Get("Origin")
	if src == "" || src == "null" {
		src = r.Header.Get("Referer")
	}
	if src == "" {
		return false
	}
	u, err := url.Parse(src)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// flash is a one-line outcome shown after a form's redirect. It travels in
// the query string, signed for the session, so nobody can craft a link
// that makes this server display text of their choosing.
type flash struct {
	Msg   string
	Error bool
}

func (u *UI) flashQuery(sess session, f flash) string {
	kind := "ok"
	if f.Error {
		kind = "error"
	}
	sig := b64.EncodeToString(u.mac("flash", sess.Nonce+"|"+kind+"|"+f.Msg))
	return url.Values{"flash": {f.Msg}, "kind": {kind}, "sig": {sig}}.Encode()
}

// flashFrom reads a flash from the query string; a bad signature shows
// nothing.
func (u *UI) flashFrom(r *http.Request, sess session) *flash {
	q := r.URL.Query()
	msg, kind := q.Get("flash"), q.Get("kind")
	got, err := b64.DecodeString(q.Get("sig"))
	if msg == "" || err != nil || !hmac.Equal(got, u.mac("flash", sess.Nonce+"|"+kind+"|"+msg)) {
		return nil
	}
	return &flash{Msg: msg, Error: kind == "error"}
}

// checkForm guards a state-changing POST: same origin and the session's
// CSRF token, else 403 with nothing done.
func (u *UI) checkForm(w http.ResponseWriter, r *http.Request, sess session) error {
	if err := u.parseForm(w, r); err != nil {
		return err
	}
	if !sameOrigin(r) {
		return refuse(http.StatusForbidden, "refused: this form was not sent from a page of this server")
	}
	if !u.validCSRF(r, sess) {
		return refuse(http.StatusForbidden, "refused: the form's CSRF token is missing or wrong; reload the page and try again")
	}
	return nil
}

// parseForm reads a small urlencoded body, capped like API bodies.
func (u *UI) parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, min(u.cfg.MaxFormBytes, 64<<10))
	if err := r.ParseForm(); err != nil {
		return refuse(http.StatusBadRequest, "malformed form")
	}
	return nil
}
