//go:build faultinject

package agent

import (
	"os"
	"path/filepath"
	"time"
)

// fault acts at a named point when ARGUS_AGENT_FAULT names it: "POINT"
// exits there with code 70 (a crash); "pause-POINT" creates
// POINT.reached in ARGUS_AGENT_FAULT_DIR and waits there until the test
// creates POINT.go beside it (a race held open on purpose). Only binaries
// built with -tags faultinject (the crash and race tests) have it.
func fault(point string) {
	switch os.Getenv("ARGUS_AGENT_FAULT") {
	case point:
		os.Exit(70)
	case "pause-" + point:
		dir := os.Getenv("ARGUS_AGENT_FAULT_DIR")
		if err := os.WriteFile(filepath.Join(dir, point+".reached"), nil, 0o600); err != nil {
			panic(err)
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, point+".go")); err == nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
