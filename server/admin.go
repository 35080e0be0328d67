package server

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/token"
)

// userNamePattern keeps user names printable and unambiguous.
var userNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// CreateUser makes a user and mints their first em_live_ token. It backs
// `argus-server user create`; the token is returned once and stored only
// as a hash.
func CreateUser(ctx context.Context, st store.Store, name string) (string, error) {
	if !userNamePattern.MatchString(name) {
		return "", fmt.Errorf("user name %q is invalid: use 1-64 of a-z 0-9 . _ - starting with a letter or digit", name)
	}
	now := time.Now().UTC()
	u := store.User{ID: newID("usr"), Name: name, CreatedAt: now}
	if err := st.CreateUser(ctx, u); errors.Is(err, store.ErrExists) {
		return "", fmt.Errorf("user %s already exists", name)
	} else if err != nil {
		return "", err
	}
	return MintUserToken(ctx, st, u)
}

// MintUserToken gives an existing user one more em_live_ token.
func MintUserToken(ctx context.Context, st store.Store, u store.User) (string, error) {
	tok, err := token.New(token.User)
	if err != nil {
		return "", err
	}
	t := store.Token{ID: newID("tok"), Hash: token.Hash(tok), Kind: token.User, UserID: u.ID, CreatedAt: time.Now().UTC()}
	if err := st.CreateToken(ctx, t); err != nil {
		return "", err
	}
	return tok, nil
}

// CreateToken mints one more em_live_ token for the existing user name.
// It backs `argus-server token create`.
func CreateToken(ctx context.Context, st store.Store, name string) (string, error) {
	u, err := userNamed(ctx, st, name)
	if err != nil {
		return "", err
	}
	return MintUserToken(ctx, st, u)
}

// ListTokens returns the tokens of the user name (theirs and their
// agents'), oldest first: ids and times, for `argus-server token list`.
func ListTokens(ctx context.Context, st store.Store, name string) ([]store.Token, error) {
	u, err := userNamed(ctx, st, name)
	if err != nil {
		return nil, err
	}
	return st.ListTokens(ctx, u.ID)
}

func userNamed(ctx context.Context, st store.Store, name string) (store.User, error) {
	u, err := st.UserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return u, fmt.Errorf("no such user %q: create it with argus-server user create", name)
	}
	return u, err
}

// RevokeToken revokes a token given either the token itself or its id.
// The token is hashed first, so it is never stored or logged.
func RevokeToken(ctx context.Context, st store.Store, tokenOrID string) (store.Token, error) {
	key := tokenOrID
	if token.Looks(tokenOrID) {
		if _, err := token.Parse(tokenOrID); err != nil {
			return store.Token{}, fmt.Errorf("that is not a valid token: %w", err)
		}
		key = token.Hash(tokenOrID)
	}
	t, err := st.RevokeToken(ctx, key, time.Now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		return t, errors.New("no such token: pass the token itself or its tok_… id")
	}
	return t, err
}
