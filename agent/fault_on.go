//go:build faultinject

package agent

import "os"

// fault exits at a named point when ARGUS_AGENT_FAULT names it. Only
// binaries built with -tags faultinject (the crash tests) have it.
func fault(point string) {
	if os.Getenv("ARGUS_AGENT_FAULT") == point {
		os.Exit(70)
	}
}
