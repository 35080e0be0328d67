package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// Reruns and stops honour an Idempotency-Key header: a client whose answer
// was lost (a connection reset) sends the same request with the same key
// again and gets the first answer, instead of a second run. A rerun's
// record is written in the transaction that queues it, so no crash or
// race can queue it twice; a stop's is written after it (a repeated stop
// could at worst answer 409, the run being stopping already).

// idempotencyTTL is how long a key is kept at least; pruneIdempotency
// forgets it after that.
const idempotencyTTL = 24 * time.Hour

// idempotencyKey is the request's key, "" when it has none.
func idempotencyKey(r *http.Request) (string, error) {
	k := r.Header.Get(api.HeaderIdempotencyKey)
	if k == "" {
		return "", nil
	}
	if len(k) > 255 {
		return "", errorf(http.StatusBadRequest, "Idempotency-Key must be 1 to 255 visible ASCII characters")
	}
	for i := range len(k) {
		if k[i] < 0x21 || k[i] > 0x7e {
			return "", errorf(http.StatusBadRequest, "Idempotency-Key must be 1 to 255 visible ASCII characters")
		}
	}
	return k, nil
}

// onceFor is the record a request with key will leave, or nil without a
// key; request says what the key is used for.
func onceFor(r *http.Request, key, request string) *store.Idempotency {
	if key == "" {
		return nil
	}
	p, _ := principalFrom(r.Context())
	return &store.Idempotency{UserID: p.UserID, Key: key, Request: request}
}

// replay answers once's request again from its record, if the key was
// used before: done says it was. The same key for another request is 422.
func (s *Server) replay(w http.ResponseWriter, r *http.Request, once *store.Idempotency) (done bool, err error) {
	if once == nil {
		return false, nil
	}
	k, err := s.store.Idempotency(r.Context(), once.UserID, once.Key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	case k.Request != once.Request:
		return true, errorf(http.StatusUnprocessableEntity, "this Idempotency-Key was used for another request; send a new key with a new request")
	}
	w.Header().Set(api.HeaderIdempotentReplayed, "true")
	setJSONHeaders(w.Header())
	w.WriteHeader(k.Status)
	_, _ = w.Write(k.Response)
	return true, nil
}

// answered fills once with the answer to keep: status and body.
func (s *Server) answered(once *store.Idempotency, status int, body any) {
	once.Status = status
	once.Response, _ = json.Marshal(body)
	once.Response = append(once.Response, '\n') // as writeJSON's encoder ends it
	once.CreatedAt = s.cfg.Now().UTC()
}

// pruneIdempotency forgets keys older than idempotencyTTL, hourly, until
// ctx ends. Each replica prunes; deleting what another deleted is nothing.
func (s *Server) pruneIdempotency(ctx context.Context) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		if n, err := s.store.PruneIdempotency(ctx, s.cfg.Now().Add(-idempotencyTTL)); err != nil && ctx.Err() == nil {
			s.log.Warn().Err(err).Msg("forgetting old Idempotency-Keys failed; retrying in an hour")
		} else if n > 0 {
			s.log.Debug().Int("keys", n).Msg("old Idempotency-Keys forgotten")
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
