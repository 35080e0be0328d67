package agent

import (
	"os"
	"regexp"
	"strings"

	"github.com/argus-exec/argus/token"
)

// Variables every run gets from the agent.
const (
	envRunID   = "ARGUS_RUN_ID"
	envBatchID = "ARGUS_BATCH_ID"
	envProp    = "ARGUS_PROP_"
)

var propKeyUnsafe = regexp.MustCompile(`[^A-Z0-9_]`)

// runEnv builds a run's environment: the recorded one, minus every token
// (ARGUS_TOKEN, and any value holding an em_live_ or ag_live_ token), with
// PATH and HOME from the agent when the recording lacks them, plus the
// run's ids and the agent's properties.
func runEnv(recorded map[string]string, runID, batchID string, props map[string]string) []string {
	env := map[string]string{}
	for k, v := range recorded {
		env[k] = v
	}
	for _, k := range []string{"PATH", "HOME"} {
		if _, ok := env[k]; !ok {
			if v, ok := os.LookupEnv(k); ok {
				env[k] = v
			}
		}
	}
	for k, v := range props {
		env[envProp+propKeyUnsafe.ReplaceAllString(strings.ToUpper(k), "_")] = v
	}
	env[envRunID], env[envBatchID] = runID, batchID
	out := make([]string, 0, len(env))
	for k, v := range env {
		if strings.EqualFold(k, "ARGUS_TOKEN") || token.Looks(v) || strings.ContainsRune(k, '=') || k == "" {
			continue
		}
		out = append(out, k+"="+v)
	}
	return out
}
