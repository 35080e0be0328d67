package client

import (
	"encoding/base64"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

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
	"PGPASSWORD":            true,
	"DOCKER_AUTH_CONFIG":    true,
	"SSH_AUTH_SOCK":         true, // a way into the recording user's SSH agent
}

// notCredentialNames match a suffix rule but hold no secret (compared
// upper-cased): PWD is the shell's working directory, and
// GOOGLE_APPLICATION_CREDENTIALS is by Google's definition the path of a
// key file, which stays on the host (its value is still held to
// CredentialValue, so a key pasted into it is left out all the same).
var notCredentialNames = map[string]bool{
	"PWD":                            true,
	"GOOGLE_APPLICATION_CREDENTIALS": true,
}

// credentialSuffixes end credential names: a name that is one of them or
// ends in "_" and one of them (GITHUB_TOKEN, HF_TOKEN, WANDB_API_KEY,
// OPENAI_KEY, DB_PASSWORD, DB_PASS, MYSQL_PWD, AZURE_CLIENT_SECRET,
// NPM_CONFIG__AUTH, GCP_CREDENTIALS). They are whole words after an
// underscore, so TOKENIZERS_PARALLELISM, MAX_TOKENS, KEYBOARD_LAYOUT,
// MONKEY, PASSAGE_DIR, SSH_ASKPASS and SESSION_NAME do not match.
var credentialSuffixes = []string{
	"TOKEN", "PASSWORD", "PASSWD", "PASS", "PWD", "PASSPHRASE", "SECRET",
	"KEY", "APIKEY", "CREDENTIALS", "AUTH",
}

// CredentialName reports whether name is a credential variable's name (any
// case: Windows names are case-insensitive, and aws_secret_access_key is
// still one).
func CredentialName(name string) bool {
	upper := strings.ToUpper(name)
	switch {
	case credentialNames[upper]:
		return true
	case notCredentialNames[upper]:
		return false
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
// (DATABASE_URL=postgres://user:pw@host/db), an HTTP Authorization
// value (authHeader), a Slack or Discord webhook URL (whose path is the
// secret), or a token in one of a few shapes that nothing else has
// (providerToken).
func CredentialValue(value string) bool {
	return token.Holds(value) || privateKey(value) || urlWithPassword(value) || authHeader(value) ||
		webhookURL.MatchString(value) || providerToken.MatchString(value)
}

// providerToken matches, as a whole word, the token formats of services
// training code talks to, each a fixed prefix and a long random body:
// GitHub (ghp_, gho_, ghu_, ghs_, ghr_ and 36 characters; github_pat_),
// Hugging Face (hf_ and 30 or more letters and digits), AWS access key ids
// (AKIA or ASIA and 16 capitals or digits), Anthropic and OpenAI project
// keys (sk-ant-, sk-proj-), Slack (xoxb-, xoxp-…), Stripe secret and
// restricted keys (sk_live_, rk_live_, sk_test_, rk_test_; not the
// publishable pk_), and JWTs (three base64url parts, the first a JSON
// header, so starting eyJ, the base64 of `{"`). Shorter or looser shapes
// (a bare sk-…) are left alone: they also occur in ordinary values.
var providerToken = regexp.MustCompile(`(?:^|[^A-Za-z0-9_])(?:` +
	`gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{60,}|hf_[A-Za-z0-9]{30,}|` +
	`(?:AKIA|ASIA)[A-Z0-9]{16}|sk-(?:ant|proj)-[A-Za-z0-9_-]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}|` +
	`[sr]k_(?:live|test)_[A-Za-z0-9]{16,}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]+` +
	`)(?:$|[^A-Za-z0-9_])`)

// webhookURL matches Slack and Discord incoming-webhook URLs: whoever has
// one may post to the channel, so the URL is the credential.
var webhookURL = regexp.MustCompile(`hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_-]{4,}/|` +
	`discord(?:app)?\.com/api/(?:v[0-9]+/)?webhooks/[0-9]+/[A-Za-z0-9_-]+`)

// authScheme finds an HTTP Authorization value (AUTHORIZATION="Bearer
// …", CURL_HEADER="Authorization: Basic …"): the scheme as a whole word
// (any case, as in HTTP), blanks, then its credentials.
var authScheme = regexp.MustCompile(`(?i)(?:^|[^A-Za-z0-9_])(bearer|basic)[ \t]+([A-Za-z0-9._~+/-]+=*)`)

// authHeader reports whether value holds a Bearer token of 20 or more
// characters (shorter ones read like words: "Bearer of news") or Basic
// credentials, which must decode to user:password, so that "basic usage"
// stays.
func authHeader(value string) bool {
	for _, m := range authScheme.FindAllStringSubmatch(value, -1) {
		if strings.EqualFold(m[1], "bearer") {
			if len(m[2]) >= 20 {
				return true
			}
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(m[2])
		if err == nil && utf8.Valid(raw) && strings.Contains(string(raw), ":") &&
			!strings.ContainsFunc(string(raw), unicode.IsControl) {
			return true
		}
	}
	return false
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
