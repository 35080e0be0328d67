// Command argus is the user's CLI for argus-server: it records a command as
// a batch and runs it locally, queues reruns and stops of recorded work, and
// lists batches, runs and agents.
//
// Only argument parsing, output for humans and scripts, and turning errors
// into one line live here. HTTP, retries, TLS and the secret filter for
// recorded environments are in package client; wire types in server/api.
package main

import "os"

// version is stamped at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	os.Exit(run(os.Args))
}
