//go:build unix

package proc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Exec bits mean nothing on Windows, hence unix only.
func TestLookPathUsesTheRecordedPATH(t *testing.T) {
	dir := t.TempDir()
	tool := filepath.Join(dir, "train")
	if err := os.WriteFile(tool, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if p, err := lookPath("train", []string{"PATH=/nonexistent:" + dir}); err != nil || p != tool {
		t.Fatalf("lookPath = %q, %v", p, err)
	}
	if _, err := lookPath("train", []string{"PATH=/usr/bin"}); err == nil || !strings.Contains(err.Error(), "recorded PATH") {
		t.Fatalf("lookPath outside the recorded PATH: %v", err)
	}
	if p, _ := lookPath("./x.sh", nil); p != "./x.sh" {
		t.Fatalf("a path with a slash is kept as is: %q", p)
	}
}
