// Package testenv is the one harness every end-to-end test and the
// benchmark driver (cmd/argus-bench) stand on: it builds the real binaries
// once per process, starts argus-server and argus-agent as child processes
// on loopback, runs the argus CLIs to completion, and says when a server or
// an agent is really ready.
//
// What "ready" means here, because tests are only as good as it:
//   - a server is ready when it has logged the address it listens on (it is
//     started on 127.0.0.1:0, so no port is picked, freed and raced for)
//     and GET /healthz answers 200 on that address;
//   - an agent is ready when this agent process is alive, the server lists
//     its id online with a heartbeat sent after this process started (not
//     one left over from an earlier process of the same id), and the server
//     holds at least as many long-polls as there are live agents started
//     through this harness on it. That last part is a count (the server
//     has no per-agent poll gauge): a poll of another client on the same
//     server, or of an agent killed a moment ago that the server has not
//     yet seen go, can stand in for this agent's for a few milliseconds.
//
// A server a test restarts (ServerSpec.Restartable) sits behind a front
// door the harness owns, so its URL never changes and no port is freed
// and bound again.
//
// The core (Builder, Start, Run, StartServer, Server.StartAgent, …) returns
// errors and, where it waits, takes a context, so a benchmark binary can
// use it; the T helpers (Main, New and the *Env methods) wrap it for
// tests, failing the test on error and killing everything in t.Cleanup.
// Last of all, before the test's dir is removed, an Env ends what outlived
// the processes it started (leftovers.go): it kills the test's runs, which
// the agent starts in sessions of their own, and waits for the agent's
// supervisors to write the runs' status files and exit, so nothing writes
// into the dir while it is removed.
//
// Not here: fakes of the server or the agent (unit tests keep their own),
// assertions about product behaviour, and anything a shipped binary needs.
package testenv
