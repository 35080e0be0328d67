package client

import (
	"net/url"
	"strings"

	"github.com/argus-exec/argus/token"
)

// SafeEnv turns an os.Environ()-style list into the map that is recorded
// with a batch, minus anything that looks secret: a name containing TOKEN,
// SECRET, PASSWORD, PASSWD, KEY, CREDENTIAL, AUTH, COOKIE or SESSION (any
// case), or a value holding an Argus token, a URL with a password in it
// (DATABASE_URL=postgres://user:pw@host/db) or a PEM private key. It errs
// on the side of dropping:
// a recorded environment is shown to project recipients and replayed on a
// host, so a missing variable is a nuisance while a leaked one is an
// incident.
func SafeEnv(environ []string) map[string]string {
	out := make(map[string]string, len(environ))
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		// Windows keeps per-drive cwds as "=C:=C:\dir"; they have no name.
		if !ok || name == "" {
			continue
		}
		if secretName(name) || secretValue(value) {
			continue
		}
		out[name] = value
	}
	return out
}

func secretName(name string) bool {
	upper := strings.ToUpper(name)
	for _, word := range [...]string{
		"TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY",
		"CREDENTIAL", "AUTH", "COOKIE", "SESSION",
	} {
		if strings.Contains(upper, word) {
			return true
		}
	}
	return false
}

func secretValue(value string) bool {
	return token.Looks(value) || privateKey(value) || urlWithPassword(value)
}

func privateKey(value string) bool {
	return strings.Contains(value, "-----BEGIN") && strings.Contains(value, "PRIVATE KEY")
}

// urlWithPassword reports whether value, or any part of a list of values
// (PIP_EXTRA_INDEX_URL="https://a https://u:p@b", NO_PROXY-style commas,
// PATH-style semicolons), is a URL carrying a password.
func urlWithPassword(value string) bool {
	if !strings.Contains(value, "@") {
		return false
	}
	parts := strings.FieldsFunc(value, func(r rune) bool {
		return r == ',' || r == ';' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
	for _, part := range append(parts, value) {
		u, err := url.Parse(strings.Trim(part, `"'`))
		if err != nil || u.User == nil {
			continue
		}
		if _, ok := u.User.Password(); ok {
			return true
		}
	}
	return false
}
