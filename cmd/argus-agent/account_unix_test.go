//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRootServiceRefusesABinaryOthersCanReplace(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bin")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "argus-agent")
	if err := os.WriteFile(exe, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkRootBinary(exe, false); err != nil {
		t.Fatalf("a service not running as root was refused: %v", err)
	}
	if os.Geteuid() == 0 { // only root can own a file as root
		if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := checkRootBinary(exe, true); err != nil {
			t.Fatalf("a root-owned 0755 binary in a 0755 directory was refused: %v", err)
		}
	}
	if err := os.Chmod(exe, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := checkRootBinary(exe, true); err == nil || !strings.Contains(err.Error(), "/usr/local/bin") {
		t.Fatalf("a world-writable binary: %v", err)
	}
	if err := os.Chmod(exe, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := checkRootBinary(exe, true); err == nil {
		t.Fatal("a binary in a world-writable directory was accepted")
	}
}
