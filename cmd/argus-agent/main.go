// Command argus-agent is the agent's command line: --register and
// --reregister trade the user's em_live_ token for the agent's own cached
// ag_live_ token, and without them the agent runs in the foreground until
// SIGINT or SIGTERM.
//
// Only the CLI lives here: flags, their environment variables and the YAML
// config file (urfave/cli's altsrc), checking and mapping them onto
// agent.Config, logger setup, and turning errors into one line and an exit
// code. Registration, the heartbeat and long-poll loops, the journal and
// process control are package agent; HTTP and TLS are package client; the
// token cache is package token.
//
// "argus-agent service …" (service*.go) installs and controls the agent as
// a systemd unit, a launchd job or a Windows service, on
// github.com/kardianos/service with unit files and a plist of our own
// (package systemd); scm_windows.go lets the agent answer the Windows
// service control manager when it runs as a service.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/argus-exec/argus/agent"
	"github.com/argus-exec/argus/token"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Exit codes, as documented in the app's help.
const (
	exitOK    = 0
	exitError = 1
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr, agentActions()))
}

// run executes the CLI and turns any error into one line on stderr and an
// exit code: systemd.ExitTokenRejected when the server rejected the token
// or the home or token file is open to other users (token.ErrUnsafe), 1 for
// any other error, or the code an exitStatus carries ("service
// status" exits 3 when the service is not running).
func run(args []string, stdout, stderr io.Writer, acts actions) int {
	err := newApp(stdout, stderr, acts).RunContext(context.Background(), args)
	var status exitStatus
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &status):
		if status.msg != "" {
			fmt.Fprintf(stderr, "argus-agent: %s\n", errorLine(status))
		}
		return status.code
	case errors.Is(err, agent.ErrTokenRejected):
		fmt.Fprintf(stderr, "argus-agent: %v\n", agent.ErrTokenRejected)
		return noRestartExit(os.Getenv("XPC_SERVICE_NAME"))
	case errors.Is(err, token.ErrUnsafe):
		fmt.Fprintf(stderr, "argus-agent: %s\n", errorLine(err))
		return noRestartExit(os.Getenv("XPC_SERVICE_NAME"))
	default:
		fmt.Fprintf(stderr, "argus-agent: %s\n", errorLine(err))
		return exitError
	}
}

// errorLine makes err printable as one line: line breaks (some library
// errors carry them) become spaces, and anything shaped like a token is
// masked, so a token pasted in the wrong place never reaches a terminal
// log or a service manager's journal.
func errorLine(err error) string {
	fields := strings.FieldsFunc(err.Error(), func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range fields {
		fields[i] = strings.TrimSpace(fields[i])
	}
	return token.Redact(strings.Join(fields, " "))
}
