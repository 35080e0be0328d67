package server_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/server"
)

// rawExchange writes raw to a fresh connection to the harness and reads
// the first answer, then whatever follows it until the server closes the
// connection (or a deadline that fails the test).
func (h *harness) rawExchange(raw string) (first *http.Response, rest string) {
	h.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		h.t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		h.t.Fatal(err)
	}
	if _, err := io.WriteString(conn, raw); err != nil {
		h.t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	first, err = http.ReadResponse(br, nil)
	if err != nil {
		h.t.Fatalf("read the first answer: %v", err)
	}
	if _, err := io.ReadAll(first.Body); err != nil {
		h.t.Fatal(err)
	}
	more, err := io.ReadAll(br)
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		h.t.Fatalf("the connection stayed open after the first answer; read so far: %q", more)
	}
	return first, string(more)
}

// TestSmuggledRequestRefused: a request with both Content-Length and
// Transfer-Encoding (CL.TE smuggling: a proxy framing by Content-Length
// forwards the second request as body) gets 400 and the connection is
// closed, so the request hidden behind it is never served. Go alone would
// frame it as chunked, keep the connection, and record the hidden batch.
func TestSmuggledRequestRefused(t *testing.T) {
	h := newHarness(t, server.Config{})
	tok := h.user("alice")
	before := h.snapshot()
	body := `{"project":"p","name":"smuggled","env_snapshot":{"command":["true"],"cwd":"/","host":"h","env":{}}}`
	hidden := fmt.Sprintf("POST /api/batches HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", tok, len(body), body)
	chunked := "0\r\n\r\n" + hidden
	for name, headers := range map[string]string{
		"CL.TE":        fmt.Sprintf("Content-Length: %d\r\nTransfer-Encoding: chunked\r\n", len(chunked)),
		"TE.CL":        fmt.Sprintf("Transfer-Encoding: chunked\r\nContent-Length: %d\r\n", len(chunked)),
		"chunked only": "Transfer-Encoding: chunked\r\n",
	} {
		first, rest := h.rawExchange("POST /api/batches HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok +
			"\r\nContent-Type: application/json\r\n" + headers + "\r\n" + chunked)
		if first.StatusCode != http.StatusBadRequest || !first.Close {
			t.Errorf("%s: first answer %d, close %v; want 400 and the connection closed", name, first.StatusCode, first.Close)
		}
		if rest != "" {
			t.Errorf("%s: the hidden request was answered: %q", name, rest)
		}
	}
	h.unchanged(before, "smuggled requests")
	// A plain request on a fresh connection still works.
	h.expect(201, "POST", "/api/batches", tok, body)
}
