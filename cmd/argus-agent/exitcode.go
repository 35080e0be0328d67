package main

import (
	"strings"

	"github.com/argus-exec/argus/systemd"
)

// tokenRejectedExit is the exit code for a token the server rejected.
// systemd is told not to restart on systemd.ExitTokenRejected
// (RestartPreventExitStatus), but launchd's KeepAlive can only tell success
// from failure: under launchd (which names the job in XPC_SERVICE_NAME)
// the agent exits 0 instead, so it is not restarted every few seconds
// with a dead token until someone runs --reregister.
func tokenRejectedExit(xpcServiceName string) int {
	if strings.HasPrefix(xpcServiceName, "argus-agent") {
		return 0
	}
	return systemd.ExitTokenRejected
}
