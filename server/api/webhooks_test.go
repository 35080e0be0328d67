package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// TestSignatureIsTheREADMEsVerification: the server's signature is what
// the README's Go example computes, and changes with a byte of the body.
func TestSignatureIsTheREADMEsVerification(t *testing.T) {
	verified := func(secret, body []byte, signature string) bool {
		m := hmac.New(sha256.New, secret)
		m.Write(body)
		want := "sha256=" + hex.EncodeToString(m.Sum(nil))
		return hmac.Equal([]byte(want), []byte(signature))
	}
	body := []byte(`{"event":"run.finished"}`)
	sig := Signature("s3cret-s3cret-s3cret", body)
	if !verified([]byte("s3cret-s3cret-s3cret"), body, sig) {
		t.Fatalf("signature %q does not verify", sig)
	}
	if verified([]byte("s3cret-s3cret-s3cret"), []byte(`{"event":"run.finishee"}`), sig) || verified([]byte("other"), body, sig) {
		t.Fatal("the signature verifies another body or another secret")
	}
	// A known answer: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
	if got := Signature("key", []byte("The quick brown fox jumps over the lazy dog")); got != "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8" {
		t.Fatalf("Signature = %s", got)
	}
}
