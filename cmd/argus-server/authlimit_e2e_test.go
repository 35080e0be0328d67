package main_test

import (
	"net/http"
	"testing"

	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/token"
)

// The serve flags reach the limiter: with --auth-fail-burst 2 the third
// bad token from one address is 429, while the good one still works; and
// --auth-fail-burst 0 turns the limit off.
func TestServeAuthFailFlags(t *testing.T) {
	t.Parallel()
	e := testenv.New(t)
	status := func(s *testenv.Server, tok string) int {
		req, _ := http.NewRequest("GET", s.URL+"/api/batches", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := e.HTTPClient(s).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	bad, err := token.New(token.User)
	if err != nil {
		t.Fatal(err)
	}

	limited := e.StartServer(testenv.ServerSpec{Args: []string{"--auth-fail-burst", "2", "--auth-fail-rate", "0.01"}})
	good := e.CreateUser(limited, "alice")
	if got := status(limited, good); got != 200 {
		t.Fatalf("good token: %d", got)
	}
	for i, want := range []int{401, 401, 429, 429} {
		if got := status(limited, bad); got != want {
			t.Fatalf("bad token, attempt %d: %d, want %d", i+1, got, want)
		}
	}
	if got := status(limited, good); got != 200 {
		t.Fatalf("good token from a throttled address: %d, want 200", got)
	}

	open := e.StartServer(testenv.ServerSpec{Args: []string{"--auth-fail-burst", "0"}})
	for i := range 30 {
		if got := status(open, bad); got != 401 {
			t.Fatalf("no limit, attempt %d: %d, want 401", i+1, got)
		}
	}
}
