package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/token"
)

// sessionCookie names the browser session. The "__Host-" prefix would pin
// it to Secure+Path=/, but plain-HTTP loopback deployments need it too, so
// the name is plain and the flags are set by hand.
const sessionCookie = "argus_session"

// session is what the signed cookie holds. It is not the token: a cookie
// that leaks from a browser profile or a proxy log must not be usable as a
// bearer token against the API. The token's hash lets every request
// re-check the token in the store (revocation ends the session at once)
// without a server-side session table, so sessions survive a restart when
// the key does, and every replica can verify them.
type session struct {
	TokenHash string `json:"h"`
	UserID    string `json:"u"`
	Expires   int64  `json:"e"` // unix seconds
	Nonce     string `json:"n"` // per login: CSRF tokens differ between logins
	Issued    int64  `json:"i"` // unix microseconds; sign-out ends sessions issued before it
}

// mac is HMAC-SHA256 under the UI key with a purpose label, so a session
// signature can never be replayed as a CSRF token or a flash signature.
func (u *webUI) mac(purpose, msg string) []byte {
	m := hmac.New(sha256.New, u.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(msg))
	return m.Sum(nil)
}

var b64 = base64.RawURLEncoding

// seal encodes a session as payload.signature.
func (u *webUI) seal(sess session) string {
	data, _ := json.Marshal(sess) // a struct of strings and an int always marshals
	payload := b64.EncodeToString(data)
	return payload + "." + b64.EncodeToString(u.mac("session", payload))
}

// open verifies a cookie value's signature and expiry.
func (u *webUI) open(value string, now time.Time) (session, bool) {
	payload, sig, ok := strings.Cut(value, ".")
	if !ok {
		return session{}, false
	}
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, u.mac("session", payload)) {
		return session{}, false
	}
	data, err := b64.DecodeString(payload)
	var sess session
	if err != nil || json.Unmarshal(data, &sess) != nil || sess.TokenHash == "" || sess.Nonce == "" {
		return session{}, false
	}
	if now.Unix() >= sess.Expires {
		return session{}, false
	}
	return sess, true
}

// login checks a pasted token exactly as the API's authenticate does
// (shape and checksum first, then the store, revoked and unknown alike),
// under the same failed-attempt budget of the client's address, and
// admits em_live_ tokens only. It returns the new session.
func (s *Server) login(w http.ResponseWriter, r *http.Request, raw string) (session, error) {
	now := s.cfg.Now()
	raw = strings.TrimSpace(raw)
	kind, perr := token.Parse(raw)
	t, wait, err := s.attempt(r, raw, kind, perr, loginShape(kind, perr))
	switch {
	case wait > 0:
		return session{}, s.throttled(w, "web", wait)
	case errors.Is(err, errRejected):
		return session{}, errTokenRejected
	case err != nil:
		return session{}, err
	}
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	return session{
		TokenHash: t.Hash, UserID: t.UserID,
		Expires: now.Add(s.cfg.SessionTTL).Unix(), Nonce: b64.EncodeToString(nonce),
		Issued: now.UnixMicro(),
	}, nil
}

// loginShape is the sign-in's verdict on a pasted token before any lookup:
// a loginError for the person at the keyboard, or nil to look it up.
func loginShape(kind token.Kind, perr error) error {
	switch {
	case errors.Is(perr, token.ErrChecksum):
		return loginError("that token's checksum does not match: check for a typo or a truncated paste")
	case perr != nil:
		return loginError("that is not a token: paste your em_live_… token")
	case kind != token.User:
		return loginError("that is an agent (ag_live_) token: sign in with your own em_live_… token")
	}
	return nil
}

// loginError is a refused sign-in, worded for the person at the keyboard.
type loginError string

func (e loginError) Error() string { return string(e) }

// errTokenRejected covers unknown and revoked alike, as the API does.
const errTokenRejected = loginError("that token is unknown or revoked")

// userToken loads an unrevoked user token by hash.
func (s *Server) userToken(ctx context.Context, hash string) (store.Token, error) {
	t, err := s.matchToken(ctx, hash, token.User)
	if errors.Is(err, errRejected) {
		return t, errTokenRejected
	}
	return t, err
}

// currentSession verifies the cookie and re-checks its token in the store
// on every request. ok is false for no, a forged, an expired or a revoked
// session; err is a store failure.
func (s *Server) currentSession(r *http.Request) (sess session, p principal, ok bool, err error) {
	c, cerr := r.Cookie(sessionCookie)
	if cerr != nil {
		return sess, p, false, nil
	}
	sess, ok = s.ui.open(c.Value, s.cfg.Now())
	if !ok {
		return sess, p, false, nil
	}
	t, err := s.userToken(r.Context(), sess.TokenHash)
	if errors.Is(err, errTokenRejected) || (err == nil && t.UserID != sess.UserID) {
		return sess, p, false, nil
	}
	if err != nil {
		return sess, p, false, err
	}
	s.touchToken(t.ID, s.cfg.Now())
	// A sign-out (anywhere) ends every session of the user issued before
	// it: a copied cookie dies with the one signed out.
	u, err := s.store.UserByID(r.Context(), sess.UserID)
	if err != nil {
		return sess, p, false, err
	}
	if !u.SessionsBefore.IsZero() && sess.Issued <= u.SessionsBefore.UnixMicro() {
		return sess, p, false, nil
	}
	s.names.Store(u.ID, u.Name) // read anyway: spares the access log a lookup
	p = principal{TokenID: t.ID, Kind: token.User, UserID: t.UserID}
	noteActor(r.Context(), p)
	return sess, p, true, nil
}

// setSessionCookie writes the session. HttpOnly keeps it from scripts,
// SameSite=Strict keeps browsers from sending it on cross-site requests
// (the first CSRF defence), Secure whenever the request came over TLS.
func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, sess session) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: s.ui.seal(sess), Path: "/",
		Expires: time.Unix(sess.Expires, 0), MaxAge: int(sess.Expires - s.cfg.Now().Unix()),
		HttpOnly: true, Secure: s.secureCookies(r), SameSite: http.SameSiteStrictMode,
	})
}

func (s *Server) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secureCookies(r), SameSite: http.SameSiteStrictMode,
	})
}

// secureCookies: over TLS the server sees, or always when the operator says
// TLS ends in front of it (a load balancer), where r.TLS is nil.
func (s *Server) secureCookies(r *http.Request) bool {
	return r.TLS != nil || s.cfg.SecureCookies
}

// requireSession guards every UI page and form: without a live session a
// browser is sent to the login page. The principal goes into the context
// so the API's visibleBatch/visibleRun checks apply unchanged.
func (s *Server) requireSession(h func(w http.ResponseWriter, r *http.Request, sess session) error) http.HandlerFunc {
	return s.uiWrap(func(w http.ResponseWriter, r *http.Request) error {
		sess, p, ok, err := s.currentSession(r)
		if err != nil {
			return err
		}
		if !ok {
			s.clearSessionCookie(w, r)
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return nil
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)), sess)
	})
}
