//go:build windows

package main

// serviceAccount is the account a Windows service runs as: --run-as, or
// "" for LocalSystem. Unix file owners mean nothing here; the token file
// is protected by the ACL of the profile it lives in, which LocalSystem
// can read.
func serviceAccount(goos, tokenPath string, userService bool, runAs string) (string, error) {
	return runAs, nil
}

// checkRootBinary: Windows ACLs are not checked here; the README says to
// install the binary under Program Files before installing the service.
func checkRootBinary(exe string, runsAsRoot bool) error { return nil }

// registrationOwner: there are no uids to judge files by on Windows (see
// package token); -1 is never a file's owner.
func registrationOwner(home, tokenPath string) int { return -1 }
