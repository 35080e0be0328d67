package main

import (
	"net/http"
	"testing"

	"github.com/argus-exec/argus/server/api"
)

func TestRerunTimeoutIsSentAndZeroRefused(t *testing.T) {
	srv := newFakeServer(t, map[string]http.HandlerFunc{
		"POST /api/batches/b1/rerun": replyWith(http.StatusAccepted, api.Queued{RunID: "r1", CmdID: "c1"}),
	})
	envTok(t)
	if r := runCLI(t, "--url", srv.URL, "rerun", "b1", "--timeout", "6h"); r.Code != 0 {
		t.Fatalf("rerun --timeout 6h: %s", r)
	}
	r := runCLI(t, "--url", srv.URL, "rerun", "--timeout", "0s", "b1")
	assertOneLineError(t, r, "--timeout must be above 0")
	if r := runCLI(t, "--url", srv.URL, "rerun", "b1"); r.Code != 0 {
		t.Fatalf("rerun: %s", r)
	}
	got := srv.requests("POST /api/batches/b1/rerun")
	if len(got) != 2 || got[0] != `{"timeout":"6h0m0s"}` || got[1] != `{}` {
		t.Fatalf("rerun bodies = %q, want the timeout once, then none", got)
	}
}
