package agent

import (
	"os"
	"regexp"
	"strings"

	"github.com/argus-exec/argus/agent/internal/proc"
	"github.com/argus-exec/argus/token"
)

// Variables every run gets from the agent, besides proc.EnvRunID (the tag
// by which a run's processes are found).
const (
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
		if !hasKey(env, k, proc.EnvCaseInsensitive) {
			if v, ok := os.LookupEnv(k); ok {
				env[k] = v
			}
		}
	}
	for k, v := range props {
		env[envProp+propKeyUnsafe.ReplaceAllString(strings.ToUpper(k), "_")] = v
	}
	env[proc.EnvRunID], env[envBatchID] = runID, batchID
	out := make([]string, 0, len(env))
	for k, v := range env {
		if token.InEnv(k, v) || strings.ContainsRune(k, '=') || k == "" {
			continue
		}
		out = append(out, k+"="+v)
	}
	return out
}

// hasKey reports whether m holds key, regardless of case when fold is set
// (Windows, where Path and PATH are one variable).
func hasKey(m map[string]string, key string, fold bool) bool {
	if _, ok := m[key]; ok || !fold {
		return ok
	}
	for k := range m {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}
