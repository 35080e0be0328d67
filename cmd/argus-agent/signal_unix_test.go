//go:build unix

package main

import (
	"context"
	"os"
	"syscall"
	"testing"

	"github.com/argus-exec/argus/agent"
)

// SIGTERM ends the context agent.Run gets, and a Run that returns (with or
// without ctx.Err()) on it makes a clean exit. Without the CLI's signal
// handling, the signal would kill the test binary.
func TestSignalIsCleanStop(t *testing.T) {
	for _, returned := range []string{"nil", "ctx.Err()"} {
		t.Run(returned, func(t *testing.T) {
			cleanEnv(t)
			f := &fake{}
			f.do = func(ctx context.Context, _ agent.Config) {
				if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
					t.Error(err)
				}
				<-ctx.Done()
				if returned != "nil" {
					f.err = ctx.Err()
				}
			}
			r := execute(f)
			if r.code != 0 || r.stderr != "" {
				t.Errorf("got %+v, want a clean stop", r)
			}
		})
	}
}
