package agent

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/ctxsleep"
	"github.com/argus-exec/argus/token"
)

// tokenWait is how long a daemon whose token the server rejected watches
// its token file for a replacement before it gives up. argus-agent
// --reregister beside a running daemon revokes the old token at the server
// a moment before it writes the new one to the file, so a 401 can arrive
// while the file still holds the old token.
const tokenWait = 3 * time.Second

// tokenPoll is how often the token file is re-read during tokenWait.
const tokenPoll = 100 * time.Millisecond

// conn is the client with the daemon's current token.
func (d *daemon) conn() *client.Client { return d.cur.Load() }

// rejected reports whether err ends the daemon's loops. A 401 does only
// when the token file holds no working replacement (see renewToken): then
// the daemon ends with ErrTokenRejected, or with the token file's
// ErrUnsafe when the file or home can no longer be trusted. After a
// renewal the caller retries at once with conn().
func (d *daemon) rejected(ctx context.Context, used *client.Client, err error) bool {
	if !errors.Is(err, client.ErrUnauthorized) {
		return false
	}
	renewed, ferr := d.renewToken(ctx, used)
	switch {
	case renewed:
		return false
	case ctx.Err() != nil:
		return true // stopping anyway: not a rejection
	case ferr != nil:
		d.fail(ferr)
	default:
		d.fail(ErrTokenRejected)
	}
	return true
}

// renewToken looks for a new token in the token file after used was
// rejected: the one --reregister wrote beside the running daemon. It is
// taken when it differs from the rejected one and names the same agent on
// the same server; whether it works, the next request says (a rejected
// replacement comes back here, finds nothing newer and ends the daemon).
// The file is read with the same checks as at start (token.LoadCache:
// owner, mode, home), and an unsafe file is returned as an error. Loops
// that hit the 401 together renew once: whoever comes second finds conn()
// changed already.
func (d *daemon) renewToken(ctx context.Context, used *client.Client) (bool, error) {
	d.tokMu.Lock()
	defer d.tokMu.Unlock()
	if d.conn() != used {
		return true, nil
	}
	give := time.Now().Add(tokenWait)
	for {
		cache, err := token.LoadCache(d.cfg.tokenPath())
		if errors.Is(err, token.ErrUnsafe) {
			return false, err
		}
		if err == nil && cache.Token != d.token {
			if cache.AgentID != d.agentID || !sameURL(cache.URL, d.cfg.URL) {
				d.log.Error().Str("new_agent_id", cache.AgentID).Msg("the token file now names another agent or server; restart argus-agent to use it")
				return false, nil
			}
			d.token = cache.Token
			d.cur.Store(used.WithToken(cache.Token))
			d.log.Info().Msg("token rejected, and a new one is in the token file (argus-agent --reregister): carrying on with it")
			return true, nil
		}
		if time.Now().After(give) || !ctxsleep.Sleep(ctx, tokenPoll) {
			return false, nil
		}
	}
}

func sameURL(a, b string) bool { return strings.TrimRight(a, "/") == strings.TrimRight(b, "/") }
