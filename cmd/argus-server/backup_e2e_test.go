package main_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store/sqlite"
)

// TestBackupWhileRerunsAreWritten: argus-server backup, taken while
// reruns are being queued as fast as the server takes them, yields a
// database that opens and holds every run acknowledged (202) before the
// backup began; the copy is private, and an existing file is refused.
func TestBackupWhileRerunsAreWritten(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	s := e.StartServer(testenv.ServerSpec{})
	ctx := context.Background()
	tok := e.CreateUser(s, "alice")
	user := e.Client(s, tok, client.Options{RetryMax: -1})
	reg, err := user.Register(ctx, api.RegisterRequest{Hostname: "gpu-01", OS: "linux", Arch: "amd64", Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	agent := e.Client(s, reg.Token, client.Options{RetryMax: -1})
	if err := agent.Heartbeat(ctx, reg.AgentID); err != nil {
		t.Fatal(err)
	}
	b, err := user.CreateBatch(ctx, api.CreateBatchRequest{Project: "p", Name: "n",
		EnvSnapshot: api.EnvSnapshot{Command: api.CommandLine{Shell: "true"}, Cwd: "/", Host: "gpu-01"}})
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			q, err := user.Rerun(ctx, b.ID, api.RerunRequest{})
			if err != nil {
				done <- err
				return
			}
			mu.Lock()
			acked = append(acked, q.RunID)
			mu.Unlock()
		}
	}()
	e.WaitFor(10*time.Second, "a first hundred reruns", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 100
	})
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	dest := filepath.Join(e.Dir, "backup.db")
	backup := func() (testenv.Result, error) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		return testenv.Run(ctx, testenv.RunSpec{Argv: []string{e.Bin(testenv.ServerBin), "backup", "--db", s.DB, dest}})
	}
	r, err := backup()
	if err != nil || r.Code != 0 || !strings.Contains(r.Stderr, "backed up") {
		t.Fatalf("argus-server backup while reruns are written: %v %s", err, r)
	}
	e.WaitFor(10*time.Second, "reruns after the backup", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) > len(before)+20
	})
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("a rerun failed while the backup ran: %v", err)
	}

	if fi, err := os.Stat(dest); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	copyDB, err := sqlite.Open(ctx, dest)
	if err != nil {
		t.Fatalf("the backup does not open: %v", err)
	}
	defer copyDB.Close()
	for _, id := range before {
		if _, err := copyDB.Run(ctx, id); err != nil {
			t.Fatalf("run %s, acknowledged before the backup began, is not in it: %v", id, err)
		}
	}
	if leftovers, _ := filepath.Glob(filepath.Join(e.Dir, ".argus-backup-*")); len(leftovers) > 0 {
		t.Fatalf("the backup left %q behind", leftovers)
	}

	// A backup never replaces a file.
	r, err = backup()
	if err != nil || r.Code == 0 || !strings.Contains(r.Stderr, "exists") || strings.Count(r.Stderr, "\n") != 1 {
		t.Fatalf("a backup onto an existing file: %v %s; want a one-line refusal", err, r)
	}
}
