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
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/client"
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
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	db := filepath.Join(dir, "argus.db")
	out, err := exec.Command(bins.server, "user", "create", "--db", db, "alice").Output()
	if err != nil {
		t.Fatal(err)
	}
	userTok := strings.TrimSpace(string(out))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	url := "https://" + addr
	startProc(t, nil, bins.server, "serve", "--addr", addr, "--db", db, "--tls-cert", cert, "--tls-key", key)
	user, err := client.New(url, userTok, client.Options{CACertFile: cert, RetryMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the HTTPS server", func() bool {
		_, err := user.Agents(context.Background())
		return err == nil
	})

	home := filepath.Join(dir, "home")
	register := func(extra ...string) (string, error) {
		cmd := exec.Command(bins.agent, append([]string{"--register", "--home", home}, extra...)...)
		cmd.Env = append(os.Environ(), "ARGUS_URL="+url, "ARGUS_TOKEN="+userTok)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := register(); err == nil || !strings.Contains(out, "certificate") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("registering against an unknown CA: %v, output %q (want one line about the certificate)", err, out)
	}
	if out, err := register("--ca-cert", cert); err != nil {
		t.Fatalf("registering with --ca-cert: %v\n%s", err, out)
	}
	startProc(t, []string{"ARGUS_TOKEN="}, bins.agent, "--home", home, "--ca-cert", cert, "--heartbeat-interval", "1s")
	host, _ := os.Hostname()
	cwd := t.TempDir()
	b, err := user.CreateBatch(context.Background(), api.CreateBatchRequest{Project: "tls",
		EnvSnapshot: api.EnvSnapshot{Command: api.CommandLine{Argv: []string{"/bin/sh", "-c", "exit 5"}}, Cwd: cwd, Host: host,
			Env: map[string]string{"PATH": "/usr/bin:/bin"}}})
	if err != nil {
		t.Fatal(err)
	}
	var q *api.Queued
	waitFor(t, 10*time.Second, "a rerun to be accepted (agent online over HTTPS)", func() bool {
		q, err = user.Rerun(context.Background(), b.ID, api.RerunRequest{})
		return err == nil
	})
	waitFor(t, 20*time.Second, "the run's exit over HTTPS", func() bool {
		r, err := user.Run(context.Background(), q.RunID)
		return err == nil && r.Status == api.RunExited && r.ExitCode != nil && *r.ExitCode == 5
	})
}
