package main

import (
	"testing"

	"github.com/argus-exec/argus/systemd"
)

func TestNoRestartExitUnderLaunchdIsZero(t *testing.T) {
	cases := map[string]int{
		"":                      systemd.ExitTokenRejected, // a terminal, systemd, Windows
		"argus-agent":           0,                         // launchd job of the default agent
		"argus-agent-gpu1":      0,                         // a labelled launchd job
		"com.apple.Terminal.42": systemd.ExitTokenRejected, // launched from a Terminal tab
	}
	for name, want := range cases {
		if got := noRestartExit(name); got != want {
			t.Errorf("noRestartExit(%q) = %d, want %d", name, got, want)
		}
	}
}
