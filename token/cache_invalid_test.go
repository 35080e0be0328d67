// Tests of token files and tokens that are missing, corrupt or of the
// wrong kind.

package token

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/argus-exec/argus/internal/tempdir"
)

func changed(b byte) byte {
	if b == 'A' {
		return 'B'
	}
	return 'A'
}

func TestSaveCacheRefusesInvalidToken(t *testing.T) {
	good := mustNew(t, Agent)
	cases := []struct {
		name  string
		token string
		is    error
	}{
		{"empty", "", ErrMalformed},
		{"garbage", "hunter2", ErrMalformed},
		{"truncated", good[:len(good)-1], ErrMalformed},
		{"bad checksum", replaceAt(good, 15, changed(good[15])), ErrChecksum},
		{"user token", mustNew(t, User), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			home := filepath.Join(tempdir.New(t), ".argus-agent")
			path := CachePath(home, "")
			c := sampleCache(t)
			c.Token = tc.token
			err := SaveCache(path, c)
			if err == nil {
				t.Fatalf("SaveCache accepted token %q", tc.token)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("SaveCache error %v does not wrap %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), "refusing to cache") {
				t.Errorf("SaveCache error %q does not say it refused", err)
			}
			if tc.token != "" && strings.Contains(err.Error(), tc.token) {
				t.Errorf("SaveCache error %q echoes the token", err)
			}
			assertNotExist(t, path)
			assertNotExist(t, home)
		})
	}
}

// TestSaveCacheInvalidKeepsOld checks that a refused save leaves a previous
// good cache untouched.
func TestSaveCacheInvalidKeepsOld(t *testing.T) {
	home := filepath.Join(tempdir.New(t), ".argus-agent")
	path := CachePath(home, "")
	old := sampleCache(t)
	if err := SaveCache(path, old); err != nil {
		t.Fatal(err)
	}
	bad := sampleCache(t)
	bad.Token = mustNew(t, User)
	if err := SaveCache(path, bad); err == nil {
		t.Fatal("SaveCache accepted a user token")
	}
	got, err := LoadCache(path)
	if err != nil {
		t.Fatalf("LoadCache: %v", err)
	}
	assertSameCache(t, got, old)
	assertOnly(t, home, "token.json")
}

func TestLoadCacheMissing(t *testing.T) {
	path := CachePath(filepath.Join(tempdir.New(t), "nope"), "gpu1")
	c, err := LoadCache(path)
	if !errors.Is(err, ErrCacheMissing) {
		t.Fatalf("LoadCache(missing) = %v, want ErrCacheMissing", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "--register") {
		t.Errorf("error %q does not mention --register", msg)
	}
	if strings.Contains(msg, "--reregister") {
		t.Errorf("error %q suggests --reregister for a first run", msg)
	}
	if !strings.Contains(msg, path) {
		t.Errorf("error %q does not name %s", msg, path)
	}
	if c != (Cache{}) {
		t.Errorf("LoadCache(missing) returned non-zero cache %+v", c)
	}
}

func TestLoadCacheCorrupt(t *testing.T) {
	valid := cacheJSON(t, sampleCache(t))
	cases := map[string][]byte{
		"empty file":    {},
		"not json":      []byte("this is not json"),
		"truncated":     valid[:len(valid)/2],
		"wrong type":    []byte(`{"token": 42}`),
		"array":         []byte(`["ag_live_"]`),
		"trailing junk": append(append([]byte{}, valid...), []byte("}}")...),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			path := CachePath(filepath.Join(tempdir.New(t), ".argus-agent"), "")
			writeRaw(t, path, data, 0o600)
			_, err := LoadCache(path)
			if err == nil {
				t.Fatalf("LoadCache accepted %q", data)
			}
			msg := err.Error()
			if !strings.Contains(msg, "--reregister") {
				t.Errorf("error %q does not mention --reregister", msg)
			}
			if !strings.Contains(msg, path) {
				t.Errorf("error %q does not name %s", msg, path)
			}
			if errors.Is(err, ErrCacheMissing) {
				t.Errorf("corrupt-file error %v wraps ErrCacheMissing", err)
			}
		})
	}
}

func TestLoadCacheRefusesBadToken(t *testing.T) {
	good := mustNew(t, Agent)
	cases := map[string]string{
		"user token":   mustNew(t, User),
		"no token":     "",
		"bad checksum": replaceAt(good, 20, changed(good[20])),
		"truncated":    good[:len(good)-1],
		"garbage":      "hunter2",
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			path := CachePath(filepath.Join(tempdir.New(t), ".argus-agent"), "")
			c := sampleCache(t)
			c.Token = tok
			writeRaw(t, path, cacheJSON(t, c), 0o600)
			_, err := LoadCache(path)
			if err == nil {
				t.Fatalf("LoadCache accepted a file holding %q", tok)
			}
			msg := err.Error()
			for _, want := range []string{"--reregister", "ag_live_", path} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			if tok != "" && strings.Contains(msg, tok) {
				t.Errorf("error %q echoes the token", msg)
			}
			if errors.Is(err, ErrCacheMissing) {
				t.Errorf("bad-token error %v wraps ErrCacheMissing", err)
			}
		})
	}
}
