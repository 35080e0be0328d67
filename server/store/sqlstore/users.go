package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/token"
)

const userCols = `id, name, created_at, sessions_before`

func scanUser(r row) (store.User, error) {
	var u store.User
	var created int64
	var before sql.NullInt64
	if err := r.Scan(&u.ID, &u.Name, &created, &before); err != nil {
		return store.User{}, err
	}
	u.CreatedAt = goTime(created)
	u.SessionsBefore = goTimeOrZero(before)
	return u, nil
}

// EndSessions moves the user's session cut-off to at, never backwards.
func (s *Store) EndSessions(ctx context.Context, userID string, at time.Time) error {
	res, err := s.pool().exec(ctx, `UPDATE users SET sessions_before =
		CASE WHEN sessions_before IS NULL OR sessions_before < ? THEN ? ELSE sessions_before END
		WHERE id = ?`, dbTime(at), dbTime(at), userID)
	if err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	return affected(res, "user", userID)
}

// CreateUser stores u; a taken name (or id) is store.ErrExists.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	_, err := s.pool().exec(ctx,
		`INSERT INTO users (id, name, created_at) VALUES (?, ?, ?)`,
		u.ID, u.Name, dbTime(u.CreatedAt))
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.Name, err)
	}
	return nil
}

// UserByName finds a user by name.
func (s *Store) UserByName(ctx context.Context, name string) (store.User, error) {
	u, err := scanUser(s.pool().row(ctx, `SELECT `+userCols+` FROM users WHERE name = ?`, name))
	return u, notFound(err, "user", name)
}

const userByIDSQL = `SELECT ` + userCols + ` FROM users WHERE id = ?`

// UserByID finds a user by id.
func (s *Store) UserByID(ctx context.Context, id string) (store.User, error) {
	u, err := scanUser(s.pool().row(ctx, userByIDSQL, id))
	return u, notFound(err, "user", id)
}

const tokenCols = `id, hash, kind, user_id, COALESCE(agent_id, ''), created_at, revoked_at, last_used_at`

func scanToken(r row) (store.Token, error) {
	var t store.Token
	var kind string
	var created int64
	var revoked, used sql.NullInt64
	err := r.Scan(&t.ID, &t.Hash, &kind, &t.UserID, &t.AgentID, &created, &revoked, &used)
	if err != nil {
		return store.Token{}, err
	}
	t.Kind = token.Kind(kind)
	t.CreatedAt = goTime(created)
	t.RevokedAt = goTimePtr(revoked)
	t.LastUsedAt = goTimePtr(used)
	return t, nil
}

// CreateToken stores t; a taken id or hash is store.ErrExists.
func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	return insertToken(ctx, s.pool(), t)
}

func insertToken(ctx context.Context, c conn, t store.Token) error {
	_, err := c.exec(ctx, `INSERT INTO tokens
		(id, hash, kind, user_id, agent_id, created_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Hash, string(t.Kind), t.UserID, nullIfEmpty(t.AgentID),
		dbTime(t.CreatedAt), dbTimePtr(t.RevokedAt))
	if err != nil {
		return fmt.Errorf("create token %q: %w", t.ID, err)
	}
	return nil
}

const tokenByHashSQL = `SELECT ` + tokenCols + ` FROM tokens WHERE hash = ?`

// TokenByHash finds a token, revoked or not, by its hash.
func (s *Store) TokenByHash(ctx context.Context, hash string) (store.Token, error) {
	t, err := scanToken(s.pool().row(ctx, tokenByHashSQL, hash))
	if errors.Is(err, sql.ErrNoRows) {
		// The hash is a credential: keep it out of the message.
		return store.Token{}, fmt.Errorf("token: %w", store.ErrNotFound)
	}
	return t, err
}

// RevokeToken revokes the token whose id or hash is idOrHash. A token
// revoked before keeps its first revocation time.
func (s *Store) RevokeToken(ctx context.Context, idOrHash string, at time.Time) (store.Token, error) {
	var t store.Token
	err := s.inTx(ctx, func(c conn) error {
		var err error
		t, err = tokenByIDOrHash(ctx, c, idOrHash)
		if err != nil || t.RevokedAt != nil {
			return err
		}
		_, err = c.exec(ctx, `UPDATE tokens SET revoked_at = ? WHERE id = ?`, dbTime(at), t.ID)
		revoked := goTime(dbTime(at))
		t.RevokedAt = &revoked
		return err
	})
	if err != nil {
		return store.Token{}, fmt.Errorf("revoke token: %w", err)
	}
	return t, nil
}

// tokenByIDOrHash prefers the id, then the hash.
func tokenByIDOrHash(ctx context.Context, c conn, idOrHash string) (store.Token, error) {
	for _, col := range []string{"id", "hash"} {
		q := `SELECT ` + tokenCols + ` FROM tokens WHERE ` + col + ` = ?` + c.s.d.ForUpdate
		t, err := scanToken(c.row(ctx, q, idOrHash))
		if err == nil {
			return t, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return store.Token{}, err
		}
	}
	return store.Token{}, store.ErrNotFound
}
