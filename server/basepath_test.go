package server_test

import (
	"testing"

	"github.com/argus-exec/argus/server"
)

func TestCleanBasePath(t *testing.T) {
	for in, want := range map[string]string{"": "", "/": "", "/argus": "/argus", "/argus/": "/argus", "/lab/argus-1": "/lab/argus-1"} {
		if got, err := server.CleanBasePath(in); err != nil || got != want {
			t.Errorf("CleanBasePath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"argus", "/argus//x", "/../etc", "/a/..", "/a/./b", "/a b", "/a?b", "/a#b", "/%2e%2e", "//evil.example"} {
		if got, err := server.CleanBasePath(bad); err == nil {
			t.Errorf("CleanBasePath(%q) = %q, accepted", bad, got)
		}
	}
}
