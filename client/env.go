package client

import (
	"net/url"
	"regexp"
	"sort"
	"strings"

	"github.com/argus-exec/argus/token"
)

// RecordedEnv is an environment as it is recorded with a batch, and what
// was left out of it.
type RecordedEnv struct {
	Env map[string]string
	// Dropped names the variables left out because they look like
	// credentials, sorted; never their values. ARGUS_TOKEN is left out
	// without being named, and Refused ones are named there instead.
	Dropped []string
	// Refused names the variables the caller asked to keep that hold an
	// Argus token, sorted: those are never recorded (the server refuses
	// them with 400 whoever sends them).
	Refused []string
}

// RecordEnv turns an os.Environ()-style list into the environment recorded
// with a batch, minus the variables that look like credentials. The rule is
// narrow on purpose: a recorded environment is replayed on a host, and
// silently losing TOKENIZERS_PARALLELISM or CUDA_VISIBLE_DEVICES changes
// what a rerun does. A variable is left out when
//
//   - its name is a credential's (CredentialName), unless its value is
//     empty or a flag (0, 1, true, false, yes, no: a switch such as
//     HF_HUB_DISABLE_IMPLICIT_TOKEN=1, not a secret), or
//   - its value holds a credential (CredentialValue), whatever the name.
//
// keep names variables to record all the same (exact names); a value
// holding an Argus token is never recorded, and ARGUS_TOKEN never is.
func RecordEnv(environ []string, keep []string) RecordedEnv {
	keepSet := make(map[string]bool, len(keep))
	for _, k := range keep {
		keepSet[k] = true
	}
	out := RecordedEnv{Env: make(map[string]string, len(environ))}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		// Windows keeps per-drive cwds as "=C:=C:\dir"; they have no name.
		if !ok || name == "" {
			continue
		}
		switch {
		case argusToken(name, value):
			// Never recorded, kept or not.
			switch {
			case keepSet[name]:
				out.Refused = append(out.Refused, name)
			case !strings.EqualFold(name, "ARGUS_TOKEN"):
				// ARGUS_TOKEN is how argus itself is given its token:
				// that it is not recorded is no news worth a line.
				out.Dropped = append(out.Dropped, name)
			}
		case keepSet[name]:
			out.Env[name] = value
		case credentialName(name, value) || CredentialValue(value):
			out.Dropped = append(out.Dropped, name)
		default:
			out.Env[name] = value
		}
	}
	sort.Strings(out.Dropped)
	sort.Strings(out.Refused)
	return out
}

// argusToken reports whether a variable is ARGUS_TOKEN or holds an Argus
// token in its name or value: the server refuses a batch holding one.
func argusToken(name, value string) bool {
	return strings.EqualFold(name, "ARGUS_TOKEN") || token.Holds(name) || token.Holds(value)
}

// credentialNames are exact names of credentials that no suffix rule
// below catches (compared upper-cased).
var credentialNames = map[string]bool{
	"ARGUS_TOKEN":           true,
	"AWS_ACCESS_KEY_ID":     true, // half of a key pair; useless on another host, and it names the account
	"AWS_SECRET_ACCESS_KEY": true,
	"AWS_SESSION_TOKEN":     true,
	"AZURE_STORAGE_KEY":     true,
	"KAGGLE_KEY":            true,
	"MYSQL_PWD":             true,
	"PGPASSWORD":            true,
	"DOCKER_AUTH_CONFIG":    true,
	"SSH_AUTH_SOCK":         true, // a way into the recording user's SSH agent
}

// credentialSuffixes end credential names: a name that is one of them or
// ends in "_" and one of them (GITHUB_TOKEN, HF_TOKEN, WANDB_API_KEY,
// DB_PASSWORD, AZURE_CLIENT_SECRET). They are whole words after an
// underscore, so TOKENIZERS_PARALLELISM, MAX_TOKENS, KEYBOARD_LAYOUT and
// SESSION_NAME do not match.
var credentialSuffixes = []string{
	"TOKEN", "PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "SECRET_KEY",
	"API_KEY", "APIKEY", "ACCESS_KEY", "PRIVATE_KEY",
}

// CredentialName reports whether name is a credential variable's name (any
// case: Windows names are case-insensitive, and aws_secret_access_key is
// still one).
func CredentialName(name string) bool {
	upper := strings.ToUpper(name)
	if credentialNames[upper] {
		return true
	}
	for _, s := range credentialSuffixes {
		if upper == s || strings.HasSuffix(upper, "_"+s) {
			return true
		}
	}
	return false
}

// credentialName is CredentialName, except for values that cannot be a
// secret: an empty one, or a switch.
func credentialName(name, value string) bool {
	switch strings.ToLower(value) {
	case "", "0", "1", "true", "false", "yes", "no":
		return false
	}
	return CredentialName(name)
}

// CredentialValue reports whether value holds a credential: an Argus
// token, a PEM private key, a URL with a password in it
// (DATABASE_URL=postgres://user:pw@host/db), or a token in one of a few
// shapes that nothing else has (providerToken).
func CredentialValue(value string) bool {
	return token.Holds(value) || privateKey(value) || urlWithPassword(value) || providerToken.MatchString(value)
}

// providerToken matches, as a whole word, the token formats of services
// training code talks to, each a fixed prefix and a long random body:
// GitHub (ghp_, gho_, ghu_, ghs_, ghr_ and 36 characters; github_pat_),
// Hugging Face (hf_ and 30 or more letters and digits), AWS access key ids
// (AKIA or ASIA and 16 capitals or digits), Anthropic and OpenAI project
// keys (sk-ant-, sk-proj-) and Slack (xoxb-, xoxp-…). Shorter or looser
// shapes (a bare sk-…) are left alone: they also occur in ordinary values.
var providerToken = regexp.MustCompile(`(?:^|[^A-Za-z0-9_])(?:` +
	`gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{60,}|hf_[A-Za-z0-9]{30,}|` +
	`(?:AKIA|ASIA)[A-Z0-9]{16}|sk-(?:ant|proj)-[A-Za-z0-9_-]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}` +
	`)(?:$|[^A-Za-z0-9_])`)

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
