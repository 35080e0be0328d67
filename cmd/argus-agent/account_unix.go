//go:build unix

package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/argus-exec/argus/token"
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

// registrationOwner is the user a service's home and token file are judged
// for: the installing user, or, when root installs (sudo), the owner of the
// token file (or of the home, before registering), since the service will
// run as that owner (serviceAccount). Root reads anyone's files, so it
// must not take a file as safe merely because it can read it.
func registrationOwner(home, tokenPath string) int {
	if euid := os.Geteuid(); euid != 0 {
		return euid
	}
	for _, p := range []string{tokenPath, home} {
		if uid, err := token.FileOwner(p); err == nil {
			return uid
		}
	}
	return 0
}

// checkRootBinary refuses to install a service that runs as root from a
// binary that someone else could replace (say ~/go/bin/argus-agent, or a
// directory others can write): whoever writes it would run as root at the
// next restart.
func checkRootBinary(exe string, runsAsRoot bool) error {
	if !runsAsRoot {
		return nil
	}
	for _, p := range []string{exe, filepath.Dir(exe)} {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok || sys.Uid != 0 || st.Mode().Perm()&0o022 != 0 {
			return fmt.Errorf("the service would run as root from %s, which is not owned by root or is writable by others: copy argus-agent to /usr/local/bin (owned by root, mode 755) and install from there", p)
		}
	}
	return nil
}
