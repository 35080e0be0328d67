package ui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
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
func (u *UI) mac(purpose, msg string) []byte {
	m := hmac.New(sha256.New, u.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(msg))
	return m.Sum(nil)
}

var b64 = base64.RawURLEncoding

// seal encodes a session as payload.signature.
func (u *UI) seal(sess session) string {
	data, _ := json.Marshal(sess) // a struct of strings and an int always marshals
	payload := b64.EncodeToString(data)
	return payload + "." + b64.EncodeToString(u.mac("session", payload))
}

// open verifies a cookie value's signature and expiry.
func (u *UI) open(value string, now time.Time) (session, bool) {
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

// login admits a pasted token through Core.SignIn (the API's own checks
// and failed-attempt budget) and returns the new session.
func (u *UI) login(w http.ResponseWriter, r *http.Request, raw string) (session, error) {
	now := u.core.Now()
	in, err := u.core.SignIn(w, r, strings.TrimSpace(raw))
	if err != nil {
		return session{}, err
	}
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	return session{
		TokenHash: in.TokenHash, UserID: in.UserID,
		Expires: now.Add(u.cfg.SessionTTL).Unix(), Nonce: b64.EncodeToString(nonce),
		Issued: now.UnixMicro(),
	}, nil
}

// currentSession verifies the cookie, then has Core re-check its token
// and its user on every request (revocation and sign-out end it at once).
// ok is false for no, a forged, an expired or an ended session; err is a
// store failure. The request returned carries the user for Core.
func (u *UI) currentSession(r *http.Request) (sess session, in *http.Request, ok bool, err error) {
	c, cerr := r.Cookie(sessionCookie)
	if cerr != nil {
		return sess, r, false, nil
	}
	sess, ok = u.open(c.Value, u.core.Now())
	if !ok {
		return sess, r, false, nil
	}
	in, ok, err = u.core.Session(r, sess.TokenHash, sess.UserID, time.UnixMicro(sess.Issued))
	return sess, in, ok && err == nil, err
}

// setSessionCookie writes the session. HttpOnly keeps it from scripts,
// SameSite=Strict keeps browsers from sending it on cross-site requests
// (the first CSRF defence), Secure whenever the request came over TLS.
func (u *UI) setSessionCookie(w http.ResponseWriter, r *http.Request, sess session) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: u.seal(sess), Path: u.path("/"),
		Expires: time.Unix(sess.Expires, 0), MaxAge: int(sess.Expires - u.core.Now().Unix()),
		HttpOnly: true, Secure: u.secureCookies(r), SameSite: http.SameSiteStrictMode,
	})
}

func (u *UI) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: u.path("/"), MaxAge: -1,
		HttpOnly: true, Secure: u.secureCookies(r), SameSite: http.SameSiteStrictMode,
	})
}

// secureCookies: over TLS the server sees, or always when the operator says
// TLS ends in front of it (a load balancer), where r.TLS is nil.
func (u *UI) secureCookies(r *http.Request) bool {
	return r.TLS != nil || u.cfg.SecureCookies
}

// requireSession guards every UI page and form: without a live session a
// browser is sent to the login page. The handler gets the request Core
// returned, which carries the user, so the API's visibility checks apply
// unchanged.
func (u *UI) requireSession(h func(w http.ResponseWriter, r *http.Request, sess session) error) http.HandlerFunc {
	return u.wrap(func(w http.ResponseWriter, r *http.Request) error {
		sess, in, ok, err := u.currentSession(r)
		if err != nil {
			return err
		}
		if !ok {
			u.clearSessionCookie(w, r)
			http.Redirect(w, r, u.path("/login"), http.StatusSeeOther)
			return nil
		}
		return h(w, in, sess)
	})
}
