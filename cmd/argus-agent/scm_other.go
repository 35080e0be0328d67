//go:build !windows

package main

import (
	"context"

	"github.com/argus-exec/argus/agent"
)

// runAgent runs the agent. systemd and launchd run it as a plain process
// and stop it with SIGTERM, which action already turns into ctx's end.
func runAgent(ctx context.Context, cfg agent.Config, run func(context.Context, agent.Config) error) error {
	return run(ctx, cfg)
}
