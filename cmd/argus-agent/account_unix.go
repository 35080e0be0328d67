//go:build unix

package main

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// serviceAccount is the account a service runs as, "" for root. On Linux
// and macOS that is the owner of the token file: the agent refuses a state
// directory that is not its own (agent.privateDir) and the 0600 token file
// is readable by its owner only, so any other account would fail at start.
// --run-as may name that owner (as a check); it cannot pick anyone else.
func serviceAccount(goos, tokenPath string, userService bool, runAs string) (string, error) {
	st, err := os.Stat(tokenPath)
	if err != nil {
		return "", err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return "", fmt.Errorf("cannot tell who owns %s", tokenPath)
	}
	uid := strconv.FormatUint(uint64(sys.Uid), 10)
	owner := uid
	if u, err := user.LookupId(uid); err == nil {
		owner = u.Username
	}
	if userService {
		if runAs != "" {
			return "", fmt.Errorf("--run-as is for system services: a --user service runs as you")
		}
		if int(sys.Uid) != os.Getuid() {
			return "", fmt.Errorf("the token file %s belongs to %s, but a --user service runs as you: register as yourself, or install a system service", tokenPath, owner)
		}
		return "", nil
	}
	if runAs != "" && runAs != owner && runAs != uid {
		return "", fmt.Errorf("--run-as %s: the token file %s belongs to %s, and the service must run as its owner: register as %s, or leave out --run-as", runAs, tokenPath, owner, runAs)
	}
	if sys.Uid == 0 {
		return "", nil
	}
	return owner, nil
}
