// Package token mints, checks and hashes Argus bearer tokens, and keeps the
// agent's token cache on disk (cache.go: where it lives, who may read it;
// home.go and perm_*.go: refusing a home or token file that other users
// could change, per platform; the atomic 0600 write itself is
// internal/atomicfile's).
//
// A token reads <prefix><body><checksum>: the prefix names who holds it
// (em_live_ for a user, ag_live_ for an agent), the body is 32 base62
// characters drawn from crypto/rand (about 190 bits), and the checksum is the
// CRC-32 of prefix and body in 6 base62 characters, so a typo or a truncated
// paste is rejected by Parse before any database lookup.
//
// What is stored server-side is Hash(token) only; Equal compares in constant
// time. Looking tokens up and revoking them is the server's job, not this
// package's.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"math/big"
	"regexp"
	"strings"
)

// Kind is the prefix that says who holds a token.
type Kind string

const (
	// User tokens are held by people (SDK, CLI, browser login).
	User Kind = "em_live_"
	// Agent tokens are held by one agent on one host.
	Agent Kind = "ag_live_"
)

const (
	bodyLen     = 32
	checksumLen = 6
	alphabet    = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

var (
	// ErrMalformed means the string is not shaped like a token at all.
	ErrMalformed = errors.New("token is malformed")
	// ErrChecksum means the token is shaped right but its checksum does not
	// match: a typo or a truncated paste.
	ErrChecksum = errors.New("token checksum does not match (typo or truncated paste?)")
)

// New mints a fresh token of the given kind.
func New(kind Kind) (string, error) {
	body := make([]byte, bodyLen)
	max := big.NewInt(int64(len(alphabet)))
	for i := range body {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("read random: %w", err)
		}
		body[i] = alphabet[n.Int64()]
	}
	head := string(kind) + string(body)
	return head + checksum(head), nil
}

// Parse checks a token's shape and checksum and returns its kind. It never
// touches storage, so it is cheap enough to run on every request first.
func Parse(s string) (Kind, error) {
	var kind Kind
	switch {
	case strings.HasPrefix(s, string(User)):
		kind = User
	case strings.HasPrefix(s, string(Agent)):
		kind = Agent
	default:
		return "", ErrMalformed
	}
	rest := s[len(kind):]
	if len(rest) != bodyLen+checksumLen {
		return "", ErrMalformed
	}
	for i := 0; i < len(rest); i++ {
		if strings.IndexByte(alphabet, rest[i]) < 0 {
			return "", ErrMalformed
		}
	}
	head, sum := s[:len(s)-checksumLen], s[len(s)-checksumLen:]
	if subtle.ConstantTimeCompare([]byte(checksum(head)), []byte(sum)) != 1 {
		return "", ErrChecksum
	}
	return kind, nil
}

// Looks reports whether s contains something shaped like a token prefix,
// anywhere: the server CLI uses it to tell a token from a token id, and a
// token buried in an environment value (say, a URL) must still be spotted.
func Looks(s string) bool {
	return strings.Contains(s, string(User)) || strings.Contains(s, string(Agent))
}

// Holds reports whether s contains a well-formed token anywhere (a prefix,
// the body and a matching checksum), as opposed to text that merely
// mentions a prefix: the server refuses to record one.
func Holds(s string) bool {
	const n = len(User) + bodyLen + checksumLen
	for _, k := range []Kind{User, Agent} {
		for rest := s; ; {
			i := strings.Index(rest, string(k))
			if i < 0 {
				break
			}
			if cand := rest[i:]; len(cand) >= n {
				if _, err := Parse(cand[:n]); err == nil {
					return true
				}
			}
			rest = rest[i+len(k):]
		}
	}
	return false
}

// tokenShape matches a user or agent token, or the start of one.
var tokenShape = regexp.MustCompile(`(em_live_|ag_live_)[0-9A-Za-z]+`)

// Redact masks every token-shaped substring of s, keeping its prefix so a
// reader still sees which kind of token was there: for logs, error
// messages and anything else that may quote what a user pasted.
func Redact(s string) string {
	if !strings.Contains(s, "_live_") {
		return s
	}
	return tokenShape.ReplaceAllString(s, "${1}[redacted]")
}

// InEnv reports whether an environment variable carries an Argus token:
// ARGUS_TOKEN itself (any case: Windows names are case-insensitive), or a
// value holding one. Nothing the agent or the CLI starts may see such a
// variable.
func InEnv(name, value string) bool {
	return strings.EqualFold(name, "ARGUS_TOKEN") || Looks(value)
}

// Hash is what the server stores in place of a token. Tokens carry far more
// entropy than a password, so a plain SHA-256 is enough: nothing can be
// brute-forced back, and lookups by hash stay fast.
func Hash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// Equal compares two token hashes in constant time.
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func checksum(head string) string {
	n := crc32.ChecksumIEEE([]byte(head))
	out := make([]byte, checksumLen)
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = alphabet[n%uint32(len(alphabet))]
		n /= uint32(len(alphabet))
	}
	return string(out)
}
