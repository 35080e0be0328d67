//go:build linux

package agent_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths: a private CA of one, as an operator's own CA would be.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "argus test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestAgentOverHTTPSWithAPrivateCA: the server serves HTTPS with a
// certificate of a private CA; the agent refuses it without --ca-cert (no
// silent downgrade, no implied skip), and with it registers, polls and
// runs a rerun.
func TestAgentOverHTTPSWithAPrivateCA(t *testing.T) {
	t.Parallel()
	e := testenv.New(t, "faultinject")
	cert, key := selfSigned(t, e.Dir)
	server := e.StartServer(testenv.ServerSpec{Args: []string{"--tls-cert", cert, "--tls-key", key}, CACertFile: cert})
	if !strings.HasPrefix(server.URL, "https://") {
		t.Fatalf("server with --tls-cert serves %s", server.URL)
	}
	resp, err := e.HTTPClient(server).Get(server.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=") {
		t.Fatalf("an answer over TLS carries Strict-Transport-Security %q", hsts)
	}
	userTok := e.CreateUser(server, "alice")
	user := e.Client(server, userTok, client.Options{RetryMax: -1})

	home := filepath.Join(e.Dir, "home")
	register := func(extra ...string) testenv.Result {
		return e.Run(testenv.RunSpec{
			Argv: append([]string{e.Bin(testenv.AgentBin), "--register", "--home", home}, extra...),
			Env:  []string{"ARGUS_URL=" + server.URL, "ARGUS_TOKEN=" + userTok},
		})
	}
	if r := register(); r.Code == 0 || !strings.Contains(r.Stderr, "certificate") || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
		t.Fatalf("registering against an unknown CA: %s (want one line about the certificate)", r)
	}
	r := register("--ca-cert", cert)
	if r.Code != 0 {
		t.Fatalf("registering with --ca-cert: %s", r)
	}
	e.StartAgent(server, testenv.AgentSpec{Home: home, Args: []string{"--ca-cert", cert, "--heartbeat-interval", "1s"}},
		strings.TrimSpace(r.Stdout), user)
	host, _ := os.Hostname()
	// The run's cwd is under the Env's dir, not a TempDir of its own: the
	// Env ends what a run leaves behind before that dir is removed, and a
	// later TempDir would be removed before that (cleanups run in reverse).
	cwd, err := os.MkdirTemp(e.Dir, "cwd-")
	if err != nil {
		t.Fatal(err)
	}
	b, err := user.CreateBatch(context.Background(), api.CreateBatchRequest{Project: "tls",
		EnvSnapshot: api.EnvSnapshot{Command: api.CommandLine{Argv: []string{"/bin/sh", "-c", "exit 5"}}, Cwd: cwd, Host: host,
			Env: map[string]string{"PATH": "/usr/bin:/bin"}}})
	if err != nil {
		t.Fatal(err)
	}
	q, err := user.Rerun(context.Background(), b.ID, api.RerunRequest{})
	if err != nil {
		t.Fatalf("rerun with the agent ready over HTTPS: %v", err)
	}
	waitFor(t, 20*time.Second, "the run's exit over HTTPS", func() bool {
		r, err := user.Run(context.Background(), q.RunID)
		return err == nil && r.Status == api.RunExited && r.ExitCode != nil && *r.ExitCode == 5
	})
}
