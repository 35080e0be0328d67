package main

import (
	"strings"

	"github.com/argus-exec/argus/systemd"
)

// noRestartExit is the exit code for what restarting cannot fix: a token
// the server rejected, or a home directory or token file that other users
// could read or change (token.ErrUnsafe). systemd is told not to restart on
// systemd.ExitTokenRejected (RestartPreventExitStatus; 78 is also
// EX_CONFIG in sysexits.h), but launchd's KeepAlive can only tell success
// from failure: under launchd (which names the job in XPC_SERVICE_NAME)
// the agent exits 0 instead, so it is not restarted every few seconds
// until someone runs --reregister or fixes the permissions.
func noRestartExit(xpcServiceName string) int {
	if strings.HasPrefix(xpcServiceName, "argus-agent") {
		return 0
	}
	return systemd.ExitTokenRejected
}
