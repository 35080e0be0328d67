package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/argus-exec/argus/server/api"
)

// LogPiece is one answer of GET /api/runs/{id}/log: the bytes from Offset
// to Next. Offset is larger than asked when the server's cap dropped that
// part; Complete once the run has ended and all of its kept output is in.
type LogPiece struct {
	Offset, Next int64
	Complete     bool
	Data         []byte
}

// RunLog reads a run's output from offset on. With wait > 0 the server
// holds the request up to wait while there is nothing new.
func (c *Client) RunLog(ctx context.Context, runID string, offset int64, wait time.Duration) (*LogPiece, error) {
	q := url.Values{"offset": {strconv.FormatInt(offset, 10)}}
	timeout := c.timeout
	if wait > 0 {
		q.Set("wait", wait.String())
		timeout = max(timeout, wait+LongPollGrace)
	}
	var out LogPiece
	err := c.do(ctx, call{
		method: http.MethodGet, path: joinPath("api", "runs", runID, "log"), query: q, timeout: timeout,
		read: func(resp *http.Response) error { return readLogPiece(resp, &out) },
	})
	return done(&out, err)
}

func readLogPiece(resp *http.Response, out *LogPiece) error {
	var err error
	if out.Offset, err = headerInt(resp, api.HeaderLogOffset); err != nil {
		return err
	}
	if out.Next, err = headerInt(resp, api.HeaderLogNext); err != nil {
		return err
	}
	out.Complete = resp.Header.Get(api.HeaderLogComplete) == "true"
	out.Data, err = io.ReadAll(io.LimitReader(resp.Body, api.MaxLogRead+1))
	if err == nil && out.Offset+int64(len(out.Data)) != out.Next {
		err = fmt.Errorf("%d bytes from %d do not end at %s %d", len(out.Data), out.Offset, api.HeaderLogNext, out.Next)
	}
	return err
}

func headerInt(resp *http.Response, name string) (int64, error) {
	n, err := strconv.ParseInt(resp.Header.Get(name), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("the server sent no valid %s header (an argus-server before live output?)", name)
	}
	return n, nil
}
