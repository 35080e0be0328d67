package main

import (
	"testing"

	"github.com/argus-exec/argus/systemd"
)

func TestTokenRejectedExitUnderLaunchdIsZero(t *testing.T) {
	cases := map[string]int{
		"":                      systemd.ExitTokenRejected, // a terminal, systemd, Windows
		"argus-agent":           0,                         // launchd job of the default agent
		"argus-agent-gpu1":      0,                         // a labelled launchd job
		"com.apple.Terminal.42": systemd.ExitTokenRejected, // launched from a Terminal tab
	}
	for name, want := range cases {
		if got := tokenRejectedExit(name); got != want {
			t.Errorf("tokenRejectedExit(%q) = %d, want %d", name, got, want)
		}
	}
}
