package main

import (
	"testing"
	"time"
)

func TestParseRetention(t *testing.T) {
	for in, want := range map[string]time.Duration{"0": 0, "90d": 90 * 24 * time.Hour, "720h": 720 * time.Hour, "2s": 2 * time.Second, "0d": 0} {
		if got, err := parseRetention(in); err != nil || got != want {
			t.Errorf("parseRetention(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1h", "-2d", "90 days", "1.5d", "d", "forever"} {
		if got, err := parseRetention(bad); err == nil {
			t.Errorf("parseRetention(%q) = %v, accepted", bad, got)
		}
	}
}
