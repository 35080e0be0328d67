package token

import (
	"errors"
	"strings"
	"testing"
)

// tokenLen is the full length of a token: 8-byte prefix, 32-char body,
// 6-char checksum.
const tokenLen = 8 + 32 + 6

// Golden tokens, computed independently of this package (Python:
// zlib.crc32 of prefix+body, written as 6 base62 digits, most significant
// first). If these stop parsing, every token already issued stops working.
const (
	goldenAgent = "ag_live_0123456789abcdefghijABCDEFGHIJxy3LpHNY"
	goldenUser  = "em_live_0123456789abcdefghijABCDEFGHIJxy4A254w"
)

func isBase62(b byte) bool {
	return '0' <= b && b <= '9' || 'A' <= b && b <= 'Z' || 'a' <= b && b <= 'z'
}

func mustNew(t testing.TB, kind Kind) string {
	t.Helper()
	tok, err := New(kind)
	if err != nil {
		t.Fatalf("New(%q): %v", kind, err)
	}
	return tok
}

// replaceAt returns s with the byte at i replaced by b.
func replaceAt(s string, i int, b byte) string {
	buf := []byte(s)
	buf[i] = b
	return string(buf)
}

func TestConstants(t *testing.T) {
	if User != "em_live_" {
		t.Errorf("User = %q, want em_live_", User)
	}
	if Agent != "ag_live_" {
		t.Errorf("Agent = %q, want ag_live_", Agent)
	}
	if len(alphabet) != 62 {
		t.Fatalf("alphabet has %d chars, want 62", len(alphabet))
	}
	seen := map[byte]bool{}
	for i := 0; i < len(alphabet); i++ {
		c := alphabet[i]
		if !isBase62(c) || seen[c] {
			t.Fatalf("alphabet char %q at %d is not base62 or repeated", c, i)
		}
		seen[c] = true
	}
	if errors.Is(ErrChecksum, ErrMalformed) || errors.Is(ErrMalformed, ErrChecksum) {
		t.Error("ErrChecksum and ErrMalformed must be distinguishable")
	}
}

func TestNewShape(t *testing.T) {
	for _, kind := range []Kind{User, Agent} {
		t.Run(string(kind), func(t *testing.T) {
			for n := 0; n < 50; n++ {
				tok := mustNew(t, kind)
				if !strings.HasPrefix(tok, string(kind)) {
					t.Fatalf("token %q lacks prefix %q", tok, kind)
				}
				if len(tok) != tokenLen {
					t.Fatalf("len(%q) = %d, want %d", tok, len(tok), tokenLen)
				}
				rest := tok[len(kind):]
				for i := 0; i < len(rest); i++ {
					if !isBase62(rest[i]) {
						t.Fatalf("token %q has non-base62 byte %q at %d", tok, rest[i], len(kind)+i)
					}
				}
				got, err := Parse(tok)
				if err != nil {
					t.Fatalf("Parse(New(%q)) = %v", kind, err)
				}
				if got != kind {
					t.Fatalf("Parse(New(%q)) kind = %q", kind, got)
				}
			}
		})
	}
}

func TestNewDistinct(t *testing.T) {
	const n = 1000
	toks := map[string]bool{}
	bodies := map[string]bool{}
	for i := 0; i < n; i++ {
		for _, kind := range []Kind{User, Agent} {
			tok := mustNew(t, kind)
			if toks[tok] {
				t.Fatalf("duplicate token after %d mints: %q", len(toks), tok)
			}
			toks[tok] = true
			body := tok[len(kind) : len(kind)+bodyLen]
			if bodies[body] {
				t.Fatalf("duplicate body after %d mints: %q", len(bodies), body)
			}
			bodies[body] = true
		}
	}
	if len(toks) != 2*n {
		t.Fatalf("got %d distinct tokens, want %d", len(toks), 2*n)
	}
}

// TestNewUsesWholeAlphabet checks that the body is not drawn from a subset of
// base62 (e.g. hex or lowercase only), which would cut the entropy.
func TestNewUsesWholeAlphabet(t *testing.T) {
	seen := map[byte]bool{}
	for i := 0; i < 1000 && len(seen) < 62; i++ {
		tok := mustNew(t, Agent)
		for _, c := range []byte(tok[len(Agent) : len(Agent)+bodyLen]) {
			seen[c] = true
		}
	}
	// 32000 draws from 62 symbols: missing any one has probability ~62*e^-516.
	if len(seen) != 62 {
		t.Fatalf("bodies used %d distinct characters, want all 62", len(seen))
	}
}

func TestParseGolden(t *testing.T) {
	for tok, want := range map[string]Kind{goldenAgent: Agent, goldenUser: User} {
		got, err := Parse(tok)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q, nil", tok, got, err, want)
		}
	}
	if got := checksum(goldenAgent[:len(goldenAgent)-checksumLen]); got != "3LpHNY" {
		t.Errorf("checksum(agent head) = %q, want 3LpHNY", got)
	}
	if got := checksum(goldenUser[:len(goldenUser)-checksumLen]); got != "4A254w" {
		t.Errorf("checksum(user head) = %q, want 4A254w", got)
	}
}

func TestParseRejectsMalformed(t *testing.T) {
	tok := mustNew(t, Agent)
	user := mustNew(t, User)
	body := tok[len(Agent):]
	cases := map[string]string{
		"empty":                "",
		"prefix only":          string(Agent),
		"user prefix only":     string(User),
		"no prefix":            body,
		"unknown prefix":       "xx_live_" + body,
		"test prefix":          "ag_test_" + body,
		"uppercase prefix":     "AG_LIVE_" + body,
		"prefix missing _":     "ag_live" + body,
		"bearer scheme kept":   "Bearer " + tok,
		"leading space":        " " + tok,
		"trailing space":       tok + " ",
		"trailing newline":     tok + "\n",
		"truncated by one":     tok[:len(tok)-1],
		"user truncated":       user[:len(user)-1],
		"truncated checksum":   tok[:len(tok)-checksumLen],
		"one extra char":       tok + "A",
		"user one extra char":  user + "0",
		"one char short body":  string(Agent) + body[1:],
		"doubled":              tok + tok,
		"dash in body":         replaceAt(tok, len(Agent)+3, '-'),
		"underscore in body":   replaceAt(tok, len(Agent)+10, '_'),
		"space in body":        replaceAt(tok, len(Agent), ' '),
		"plus in body":         replaceAt(tok, len(Agent)+31, '+'),
		"slash in checksum":    replaceAt(tok, len(tok)-1, '/'),
		"equals in checksum":   replaceAt(tok, len(tok)-6, '='),
		"NUL in body":          replaceAt(tok, len(Agent)+5, 0),
		"high byte in body":    replaceAt(tok, len(Agent)+5, 0xff),
		"non-ASCII same bytes": tok[:len(Agent)] + "é" + body[2:],
	}
	for name, s := range cases {
		t.Run(name, func(t *testing.T) {
			kind, err := Parse(s)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) = %q, %v; want ErrMalformed", s, kind, err)
			}
			if kind != "" {
				t.Fatalf("Parse(%q) returned kind %q alongside an error", s, kind)
			}
		})
	}
}

// TestParseSingleCharChange changes every position of the body and the
// checksum to every other base62 character: each must fail with ErrChecksum
// (CRC-32 detects every single-byte error in the prefix and body).
func TestParseSingleCharChange(t *testing.T) {
	for _, tok := range []string{mustNew(t, Agent), mustNew(t, User), goldenAgent} {
		for i := 8; i < len(tok); i++ {
			for j := 0; j < len(alphabet); j++ {
				c := alphabet[j]
				if c == tok[i] {
					continue
				}
				bad := replaceAt(tok, i, c)
				kind, err := Parse(bad)
				if !errors.Is(err, ErrChecksum) {
					where := "body"
					if i >= len(tok)-checksumLen {
						where = "checksum"
					}
					t.Fatalf("Parse(%q) (changed %s byte %d %q->%q) = %q, %v; want ErrChecksum",
						bad, where, i, tok[i], c, kind, err)
				}
				if kind != "" {
					t.Fatalf("Parse(%q) returned kind %q alongside an error", bad, kind)
				}
			}
		}
	}
}

func TestParseTransposition(t *testing.T) {
	tok := goldenAgent
	for i := 8; i+1 < len(tok); i++ {
		if tok[i] == tok[i+1] {
			continue
		}
		buf := []byte(tok)
		buf[i], buf[i+1] = buf[i+1], buf[i]
		if _, err := Parse(string(buf)); !errors.Is(err, ErrChecksum) {
			t.Fatalf("Parse with bytes %d,%d swapped = %v; want ErrChecksum", i, i+1, err)
		}
	}
}

// TestParseKinds checks that each kind parses as itself, and that relabeling a
// user token as an agent token (or back) is caught by the checksum, which
// covers the prefix.
func TestParseKinds(t *testing.T) {
	user := mustNew(t, User)
	agent := mustNew(t, Agent)
	if k, err := Parse(user); err != nil || k != User {
		t.Errorf("Parse(user) = %q, %v; want %q", k, err, User)
	}
	if k, err := Parse(agent); err != nil || k != Agent {
		t.Errorf("Parse(agent) = %q, %v; want %q", k, err, Agent)
	}
	asAgent := string(Agent) + user[len(User):]
	if k, err := Parse(asAgent); !errors.Is(err, ErrChecksum) {
		t.Errorf("Parse(user token relabeled ag_live_) = %q, %v; want ErrChecksum", k, err)
	}
	asUser := string(User) + agent[len(Agent):]
	if k, err := Parse(asUser); !errors.Is(err, ErrChecksum) {
		t.Errorf("Parse(agent token relabeled em_live_) = %q, %v; want ErrChecksum", k, err)
	}
}

func TestHash(t *testing.T) {
	// Known SHA-256 vectors, lowercase hex.
	if got, want := Hash(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; got != want {
		t.Errorf("Hash(\"\") = %s, want %s", got, want)
	}
	if got, want := Hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Errorf("Hash(\"abc\") = %s, want %s", got, want)
	}

	seen := map[string]string{}
	for i := 0; i < 200; i++ {
		kind := Agent
		if i%2 == 0 {
			kind = User
		}
		tok := mustNew(t, kind)
		h := Hash(tok)
		if h2 := Hash(tok); h2 != h {
			t.Fatalf("Hash not deterministic: %s then %s", h, h2)
		}
		if len(h) != 64 {
			t.Fatalf("len(Hash) = %d, want 64", len(h))
		}
		for j := 0; j < len(h); j++ {
			c := h[j]
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				t.Fatalf("Hash %q has non-lowercase-hex byte %q", h, c)
			}
		}
		if strings.Contains(h, tok) || strings.Contains(h, tok[len(kind):len(kind)+bodyLen]) {
			t.Fatalf("Hash %q contains the token", h)
		}
		if Looks(h) {
			t.Fatalf("Looks(Hash) = true for %q", h)
		}
		if prev, ok := seen[h]; ok {
			t.Fatalf("tokens %q and %q hash alike: %s", prev, tok, h)
		}
		seen[h] = tok
	}
	// A one-character difference changes the hash.
	if Hash(goldenAgent) == Hash(replaceAt(goldenAgent, 20, 'Z')) {
		t.Error("Hash ignores a changed character")
	}
}

func TestEqual(t *testing.T) {
	a, b := mustNew(t, Agent), mustNew(t, Agent)
	ha, hb := Hash(a), Hash(b)
	if !Equal(ha, ha) {
		t.Error("Equal(h, h) = false")
	}
	if !Equal(ha, Hash(a)) {
		t.Error("Equal(Hash(a), Hash(a)) = false")
	}
	if !Equal(ha, strings.Clone(ha)) {
		t.Error("Equal on equal copies = false")
	}
	if Equal(ha, hb) {
		t.Error("Equal(Hash(a), Hash(b)) = true for distinct tokens")
	}
	if Equal(ha, ha[:63]) || Equal(ha[:63], ha) {
		t.Error("Equal true for a truncated hash")
	}
	if Equal(ha, "") || Equal("", ha) {
		t.Error("Equal true against an empty string")
	}
	if up := strings.ToUpper(ha); up != ha && Equal(ha, up) {
		t.Error("Equal is case-insensitive")
	}
	if Equal(ha, replaceAt(ha, 63, ha[63]^1)) {
		t.Error("Equal true with a changed last byte")
	}
}

func TestLooks(t *testing.T) {
	yes := []string{
		mustNew(t, User),
		mustNew(t, Agent),
		goldenAgent,
		string(User),
		string(Agent),
		"em_live_typo",                   // looks like one even if Parse rejects it
		goldenAgent[:len(goldenAgent)-1], // truncated paste
	}
	for _, s := range yes {
		if !Looks(s) {
			t.Errorf("Looks(%q) = false, want true", s)
		}
	}
	no := []string{
		"",
		"em_live",
		"ag_live",
		"EM_LIVE_abc",
		"AG_LIVE_abc",
		"em_test_abc",
		"ag-live-abc",
		"42",
		"tok_0123456789",
		"6f1d2c3b-1e7a-4c1b-9f6e-2f0a8b3c4d5e", // a token id
		Hash(goldenAgent),
		goldenAgent[len(Agent):], // body+checksum without the prefix
	}
	for _, s := range no {
		if Looks(s) {
			t.Errorf("Looks(%q) = true, want false", s)
		}
	}
}

// checkHoldsAndRedact holds Holds and Redact, which take any text, to
// what the server and the logs rely on: a token Parse accepts is found
// wherever it sits, and nothing Redact leaves still holds a token (or
// changes when redacted again), while text without a prefix is left as is.
func checkHoldsAndRedact(t *testing.T, s string, isToken bool) {
	t.Helper()
	if isToken && !Holds("x="+s+"\n") {
		t.Fatalf("Holds misses the token %q inside text", s)
	}
	red := Redact(s)
	switch {
	case Holds(red):
		t.Fatalf("Redact(%q) = %q still holds a token", s, red)
	case Redact(red) != red:
		t.Fatalf("Redact is not stable on %q: %q, then %q", s, red, Redact(red))
	case !strings.Contains(s, "_live_") && red != s:
		t.Fatalf("Redact(%q) = %q changed text without a token prefix", s, red)
	}
}

// FuzzParse fuzzes Parse, and Holds and Redact on the same input; its
// seed corpus is in testdata/fuzz/FuzzParse besides the seeds added here.
func FuzzParse(f *testing.F) {
	for i := 0; i < 4; i++ {
		f.Add(mustNew(f, User))
		f.Add(mustNew(f, Agent))
	}
	f.Add(goldenAgent)
	f.Add(goldenUser)
	f.Add("")
	f.Add(string(User))
	f.Add(string(Agent))
	f.Add(goldenAgent[:len(goldenAgent)-1])
	f.Add(goldenAgent + "x")
	f.Add(replaceAt(goldenAgent, 12, 'Q'))
	f.Add("em_live_" + strings.Repeat("é", 19))

	f.Fuzz(func(t *testing.T, s string) {
		kind, err := Parse(s)
		checkHoldsAndRedact(t, s, err == nil)
		kind2, err2 := Parse(s)
		if kind != kind2 || (err == nil) != (err2 == nil) {
			t.Fatalf("Parse(%q) not deterministic: (%q, %v) then (%q, %v)", s, kind, err, kind2, err2)
		}
		if err != nil {
			if kind != "" {
				t.Fatalf("Parse(%q) returned kind %q alongside %v", s, kind, err)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrChecksum) {
				t.Fatalf("Parse(%q) returned unexpected error %v", s, err)
			}
			return
		}
		if kind != User && kind != Agent {
			t.Fatalf("Parse(%q) accepted with unknown kind %q", s, kind)
		}
		if !strings.HasPrefix(s, string(kind)) {
			t.Fatalf("Parse(%q) = %q but the string lacks that prefix", s, kind)
		}
		if len(s) != tokenLen {
			t.Fatalf("Parse accepted %q of length %d, want %d", s, len(s), tokenLen)
		}
		for i := len(kind); i < len(s); i++ {
			if !isBase62(s[i]) {
				t.Fatalf("Parse accepted %q with non-base62 byte %q at %d", s, s[i], i)
			}
		}
		if !Looks(s) {
			t.Fatalf("Parse accepted %q but Looks says no", s)
		}
		if checksum(s[:len(s)-checksumLen]) != s[len(s)-checksumLen:] {
			t.Fatalf("Parse accepted %q with a wrong checksum", s)
		}
	})
}

func TestInEnv(t *testing.T) {
	tok, err := New(User)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, value string
		want        bool
	}{
		{"ARGUS_TOKEN", "anything", true},
		{"argus_token", "", true},
		{"DB_URL", "https://x:" + tok + "@h", true},
		{"PATH", "/usr/bin", false},
	} {
		if got := InEnv(c.name, c.value); got != c.want {
			t.Errorf("InEnv(%q, %q) = %v, want %v", c.name, c.value, got, c.want)
		}
	}
}

func TestHoldsFindsOnlyWellFormedTokens(t *testing.T) {
	user, err := New(User)
	if err != nil {
		t.Fatal(err)
	}
	agent, err := New(Agent)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{user, agent, "https://u:" + user + "@x", "a " + agent, "em_live_" + user} {
		if !Holds(s) {
			t.Errorf("Holds(%q) = false", s)
		}
	}
	bad := user[:len(user)-1] + string(alphabet[(strings.IndexByte(alphabet, user[len(user)-1])+1)%len(alphabet)])
	for _, s := range []string{"", "em_live_", "set ARGUS_TOKEN=em_live_…", user[:len(user)-1], bad, "ag_live_em_live_"} {
		if Holds(s) {
			t.Errorf("Holds(%q) = true", s)
		}
	}
}
