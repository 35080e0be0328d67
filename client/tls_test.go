package client

import (
	"context"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/argus-exec/argus/internal/tempdir"
)

// writeCA writes the test server's certificate as a PEM bundle.
func writeCA(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	path := filepath.Join(tempdir.New(t), "ca.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(path, block, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// countConns counts TCP connections the server accepted, which counts
// attempts even when the TLS handshake fails before any handler runs.
func countConns(srv *httptest.Server) *atomic.Int32 {
	var n atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	return &n
}

func TestCACertFileTrustsServer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	opts := fastOpts()
	opts.CACertFile = writeCA(t, srv)
	c := newTestClient(t, srv.URL, userToken(t), opts)
	if err := c.Heartbeat(context.Background(), "a1"); err != nil {
		t.Fatalf("Heartbeat with CA bundle: %v", err)
	}
}

func TestUnknownCANotRetried(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	conns := countConns(srv)
	srv.StartTLS()
	defer srv.Close()

	c := newTestClient(t, srv.URL, userToken(t), fastOpts())
	err := c.Heartbeat(context.Background(), "a1")
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v, want a certificate error", err)
	}
	if got := conns.Load(); got != 1 {
		t.Fatalf("connections = %d, want 1 (no retry on certificate errors)", got)
	}
}

func TestInsecureSkipVerifyIsExplicit(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	opts := fastOpts()
	opts.InsecureSkipVerify = true
	if err := newTestClient(t, srv.URL, userToken(t), opts).Heartbeat(context.Background(), "a1"); err != nil {
		t.Fatalf("Heartbeat with InsecureSkipVerify: %v", err)
	}
}

func TestHTTPSToHTTPRedirectRefused(t *testing.T) {
	t.Parallel()
	var plainHits atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plainHits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer plain.Close()
	var tlsHits atomic.Int32
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tlsHits.Add(1)
		http.Redirect(w, r, plain.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer secure.Close()

	opts := fastOpts()
	opts.CACertFile = writeCA(t, secure)
	tok := userToken(t)
	err := newTestClient(t, secure.URL, tok, opts).Heartbeat(context.Background(), "a1")
	if !errors.Is(err, ErrInsecureRedirect) {
		t.Fatalf("err = %v, want ErrInsecureRedirect", err)
	}
	if plainHits.Load() != 0 {
		t.Fatal("the plain-HTTP server was contacted")
	}
	if got := tlsHits.Load(); got != 1 {
		t.Fatalf("https attempts = %d, want 1 (no retry)", got)
	}
	if strings.Contains(err.Error(), tok) {
		t.Fatalf("token leaked: %q", err)
	}
}

func TestCACertFileErrors(t *testing.T) {
	t.Parallel()
	dir := tempdir.New(t)
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A missing file is told by the error, not its words, which are the
	// system's ("no such file", "The system cannot find the file").
	missing := filepath.Join(dir, "missing.pem")
	if _, err := New("https://argus.example.com", "", Options{CACertFile: missing}); !errors.Is(err, os.ErrNotExist) ||
		!strings.Contains(err.Error(), "CA bundle") {
		t.Errorf("CACertFile=%s: err = %v, want a missing-file error naming the CA bundle", missing, err)
	}
	if _, err := New("https://argus.example.com", "", Options{CACertFile: empty}); err == nil ||
		!strings.Contains(err.Error(), "no PEM certificates") || !strings.Contains(err.Error(), "CA bundle") {
		t.Errorf("CACertFile=%s: err = %v, want it to mention no PEM certificates", empty, err)
	}
}
