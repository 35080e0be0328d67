package main_test

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
)

// smallDisk mounts a tmpfs of size bytes on a fresh directory, for a
// database whose disk can really fill up; unmounted at cleanup, after the
// server (started later) has been stopped.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := "mounting a small tmpfs (needs root, as in CI) failed: " + strings.TrimSpace(string(out))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg + " (CI=true makes this a failure)")
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes zeros to path until the disk is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 64<<10)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// TestAFullDiskAnswers503AndHealthzSaysSo: with the database's disk full,
// writes answer 503 with Retry-After and a message that says why (not
// "internal error"), /healthz answers 503 "store unwritable", the failures
// are counted, reads still work, and once space is freed all is well
// again.
func TestAFullDiskAnswers503AndHealthzSaysSo(t *testing.T) {
	t.Parallel()
	disk := smallDisk(t, "16m")
	s := startServer(t, filepath.Join(disk, "argus.db"))
	alice := s.env.CreateUser(s.Server, "alice")
	batch := func(name string, argBytes int) api.CreateBatchRequest {
		return api.CreateBatchRequest{Project: "p", Name: name, EnvSnapshot: api.EnvSnapshot{
			Command: api.CommandLine{Argv: []string{"echo", strings.Repeat("x", argBytes)}}, Cwd: "/tmp", Host: "gpu-01",
		}}
	}
	var b api.Created
	s.call(t, "POST", "/api/batches", alice, batch("b", 1), http.StatusCreated, &b)
	s.health(t, http.StatusOK)

	fill(t, filepath.Join(disk, "filler"))
	var code int
	var body, retry string
	testenv.WaitFor(t, 20*time.Second, "a write refused for the full disk", func() bool {
		code, body, retry = s.raw(t, "POST", "/api/batches", alice, batch("big", 100<<10))
		return code != http.StatusCreated
	})
	if code != http.StatusServiceUnavailable || retry == "" || !strings.Contains(body, "cannot be written") {
		t.Fatalf("a write on a full disk: %d %s (Retry-After %q); want 503, a Retry-After and why", code, body, retry)
	}
	s.health(t, http.StatusServiceUnavailable)
	m, err := s.Metrics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got := m["argus_store_write_failures_total"]; got < 1 {
		t.Fatalf("argus_store_write_failures_total = %v after a failed write", got)
	}
	s.call(t, "GET", "/api/batches/"+b.ID, alice, nil, http.StatusOK, nil) // reads still work

	if err := os.Remove(filepath.Join(disk, "filler")); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 20*time.Second, "/healthz 200 once space is freed", func() bool {
		code, _, _ := s.raw(t, "GET", "/healthz", "", nil)
		return code == http.StatusOK
	})
	s.call(t, "POST", "/api/batches", alice, batch("c", 1), http.StatusCreated, nil)
}

// health checks /healthz's status code.
func (s *serving) health(t *testing.T, want int) {
	t.Helper()
	if code, body, _ := s.raw(t, "GET", "/healthz", "", nil); code != want {
		t.Fatalf("/healthz: %d %s, want %d", code, body, want)
	}
}
