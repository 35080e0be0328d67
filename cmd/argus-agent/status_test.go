//go:build linux

package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kardianos/service"
)

// unitFake is a control whose systemd view can disagree with the
// library's "running".
type unitFake struct {
	*fakeControl
	active, sub string
}

func (u unitFake) ActiveState() (string, string, error) { return u.active, u.sub, nil }

func TestStatusSaysRestartingWhenSystemdIsLooping(t *testing.T) {
	cleanEnv(t)
	for _, tc := range []struct {
		active, sub string
		code        int
		out         string
	}{
		{"active", "running", 0, "argus-agent: running\n"},
		{"activating", "auto-restart", 3, "argus-agent: restarting after a failure"},
	} {
		fc := unitFake{fakeControl: &fakeControl{status: service.StatusRunning}, active: tc.active, sub: tc.sub}
		acts := (&fake{}).actions()
		acts.service = func(*service.Config) (serviceControl, error) { return fc, nil }
		var out, errb bytes.Buffer
		code := run([]string{"argus-agent", "service", "status"}, &out, &errb, acts)
		if code != tc.code || !strings.HasPrefix(out.String(), tc.out) {
			t.Errorf("%s/%s: exit %d, stdout %q, want %d and %q", tc.active, tc.sub, code, out.String(), tc.code, tc.out)
		}
	}
}
