package client

import (
	"strings"

	"github.com/argus-exec/argus/token"
)

// SafeEnv turns an os.Environ()-style list into the map that is recorded
// with a batch, minus anything that looks secret: a name containing TOKEN,
// SECRET, PASSWORD, PASSWD, KEY, CREDENTIAL, AUTH, COOKIE or SESSION (any
// case), or a value holding an Argus token. It errs on the side of dropping:
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
		if secretName(name) || token.Looks(value) {
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
