package api

import (
	"encoding/json"
	"testing"
)

// ValidText must read the same as encoding/json's string: each invalid byte
// one U+FFFD (strings.ToValidUTF8 would merge a run of them into one).
func TestValidTextMatchesJSON(t *testing.T) {
	for _, s := range []string{"", "plain é\n", "a\x00b", "\xff\xfe", "é"[:1] + "x", "\xe2\x82", "ok\xc3\x28"} {
		enc, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var want string
		if err := json.Unmarshal(enc, &want); err != nil {
			t.Fatal(err)
		}
		if got := ValidText(s); got != want {
			t.Errorf("ValidText(%q) = %q, json makes it %q", s, got, want)
		}
	}
}

// What an older server gets is text it can store: no NUL, valid UTF-8.
func TestTextForOldServers(t *testing.T) {
	if got := TextForOldServers([]byte("a\x00b\xffc\n")); got != "ab\uFFFDc\n" {
		t.Errorf("TextForOldServers = %q", got)
	}
}

// Output prefers the exact bytes, and an older agent's text stands in.
func TestOutputPrefersBytes(t *testing.T) {
	if got := (ExitReport{OutputTail: "t", OutputTailB64: []byte("b\x00")}).Output(); got != "b\x00" {
		t.Errorf("report Output = %q", got)
	}
	if got := (ExitReport{OutputTail: "t"}).Output(); got != "t" {
		t.Errorf("older agent's report Output = %q", got)
	}
	if got := (Run{OutputTail: "a\uFFFD", OutputTailB64: []byte("a\xff")}).Output(); string(got) != "a\xff" {
		t.Errorf("run Output = %q", got)
	}
	if got := (Run{OutputTail: "a\x00"}).Output(); string(got) != "a\x00" {
		t.Errorf("run Output without bytes = %q", got)
	}
}
