//go:build !windows

package main_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/argus-exec/argus/client"
)

// answerLosingProxy forwards every request to target, except that for the
// first lose reruns it forwards the request, lets the server act on it,
// and then drops the connection instead of answering: the answer is lost
// on its way back, as with a connection reset.
func answerLosingProxy(t *testing.T, target string, lose int32) *httptest.Server {
	t.Helper()
	to, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	var lost atomic.Int32
	p := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := r.Clone(r.Context())
		out.URL.Scheme, out.URL.Host, out.RequestURI, out.Host = to.Scheme, to.Host, "", to.Host
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		if strings.HasSuffix(r.URL.Path, "/rerun") && lost.Add(1) <= lose {
			io.Copy(io.Discard, resp.Body) //nolint:errcheck // the answer is thrown away
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body) //nolint:errcheck // the client reads what came
	}))
	t.Cleanup(p.Close)
	return p
}

// TestALostRerunAnswerQueuesOneRun: `argus rerun` whose answer is lost
// after the server queued the run retries with the same Idempotency-Key
// and gets the first answer: one run, the one it prints. When every
// answer is lost, it says the run may have been queued and how to check,
// and still one run was queued for all its attempts.
func TestALostRerunAnswerQueuesOneRun(t *testing.T) {
	t.Parallel()
	e := newE2E(t)
	alice := e.createUser(t, "alice")
	e.serve(t)
	host, _ := os.Hostname()
	registerAgent(t, e.client(t, alice), host) // online: reruns are queued
	batch := record(t, e, e.userEnv(alice), "true")
	runsOf := func() []string {
		list, err := e.client(t, alice).Runs(context.Background(), client.RunsOptions{Batch: batch})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range list.Runs {
			ids = append(ids, r.ID)
		}
		return ids
	}

	proxy := answerLosingProxy(t, e.server.URL, 1)
	env := append(e.userEnv(alice), "ARGUS_URL="+proxy.URL)
	r := e.argus(t, env, "", "rerun", batch)
	wantOK(t, "rerun whose first answer is lost", r)
	runs := runsOf()
	if len(runs) != 1 || !strings.Contains(r.Stdout, runs[0]) {
		t.Fatalf("after a rerun whose first answer was lost: runs %v, printed %q; want one run, the printed one", runs, r.Stdout)
	}

	proxy = answerLosingProxy(t, e.server.URL, 100)
	env = append(e.userEnv(alice), "ARGUS_URL="+proxy.URL)
	r = e.argus(t, env, "", "rerun", batch)
	wantFail(t, "rerun whose every answer is lost", r, "may have been queued", "argus runs --batch "+batch)
	if runs := runsOf(); len(runs) != 2 {
		t.Fatalf("after a rerun whose every answer was lost: runs %v, want 2 (one per rerun command, whatever its retries)", runs)
	}
}
