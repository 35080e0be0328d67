package server

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// The base path: a reverse proxy may serve Argus under a path of its own
// (https://lab.example/argus/) and pass requests on with that path kept.
// Every route then lives under it: the API, the UI, its static files,
// redirects and cookie, /metrics and /healthz. Agents and the CLI take
// the prefixed URL as ARGUS_URL, and their client keeps the prefix.

// basePathPattern is what --base-path accepts: one or more segments of
// URL-safe characters, no dot segments, no trailing slash.
var basePathPattern = regexp.MustCompile(`^(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+$`)

// CleanBasePath checks a --base-path: "" or "/" is the root (""); else a
// path such as "/argus" or "/lab/argus", a trailing slash dropped.
func CleanBasePath(p string) (string, error) {
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return "", nil
	}
	// Every segment starts with a character other than a dot, so no
	// segment is "." or "..".
	if !basePathPattern.MatchString(p) {
		return "", fmt.Errorf("--base-path %q is not a path such as /argus: use letters, digits and . _ ~ - in segments that each start with /", p)
	}
	return p, nil
}

// underBase serves h with the base path taken off the request's path;
// the base path itself redirects to base/ (where the home page is), and
// anything outside it is 404.
func (s *Server) underBase(h http.Handler) http.Handler {
	base := s.cfg.BasePath
	if base == "" {
		return h
	}
	inner := http.StripPrefix(base, h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch rest, ok := strings.CutPrefix(r.URL.Path, base); {
		case ok && rest == "":
			http.Redirect(w, r, base+"/", http.StatusMovedPermanently)
		case ok && rest[0] == '/':
			inner.ServeHTTP(w, r)
		default:
			s.writeError(w, r, errorf(http.StatusNotFound, "not found: this server serves under %s/", base))
		}
	})
}
