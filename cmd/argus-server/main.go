// Command argus-server runs the Argus API (serve) and administers its
// database (user create; token create, list and revoke). The HTTP side is
// package server; storage engines are under server/store.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run executes the CLI and turns any error into one line on stderr.
func run(args []string, stdout, stderr io.Writer) int {
	if err := newApp(stdout, stderr).Run(args); err != nil {
		fmt.Fprintf(stderr, "argus-server: %v\n", err)
		return 1
	}
	return 0
}
