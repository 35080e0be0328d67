package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func skipOnWindows(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("Unix mode bits are not enforced on Windows")
	}
}

func sampleCache(t *testing.T) Cache {
	t.Helper()
	return Cache{
		URL:          "https://argus.example.com",
		AgentID:      "agt_7f3a",
		Token:        mustNew(t, Agent),
		Label:        "gpu1",
		Hostname:     "node-17",
		RegisteredAt: time.Date(2024, 5, 17, 12, 34, 56, 789000000, time.UTC),
	}
}

func perm(t *testing.T, path string) fs.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return st.Mode().Perm()
}

// dirNames lists the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read dir %s: %v", dir, err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func assertOnly(t *testing.T, dir string, want ...string) {
	t.Helper()
	got := dirNames(t, dir)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("dir %s holds %q, want exactly %q", dir, got, want)
	}
	for _, n := range got {
		if strings.HasPrefix(n, ".tmp-") {
			t.Fatalf("leftover temp file %s in %s", n, dir)
		}
	}
}

func assertNotExist(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat %s = %v, want not-exist", path, err)
	}
}

func assertSameCache(t *testing.T, got, want Cache) {
	t.Helper()
	if !got.RegisteredAt.Equal(want.RegisteredAt) {
		t.Errorf("RegisteredAt = %v, want %v", got.RegisteredAt, want.RegisteredAt)
	}
	got.RegisteredAt, want.RegisteredAt = time.Time{}, time.Time{}
	if got != want {
		t.Errorf("cache = %+v, want %+v", got, want)
	}
}

func TestCachePath(t *testing.T) {
	home := filepath.Join("home", "alice", ".argus-agent")
	if got, want := CachePath(home, ""), filepath.Join(home, "token.json"); got != want {
		t.Errorf("CachePath(home, \"\") = %q, want %q", got, want)
	}
	if got, want := CachePath(home, "gpu1"), filepath.Join(home, "token-gpu1.json"); got != want {
		t.Errorf("CachePath(home, gpu1) = %q, want %q", got, want)
	}
	if CachePath(home, "a") == CachePath(home, "b") || CachePath(home, "a") == CachePath(home, "") {
		t.Error("different labels share a cache path")
	}
	if got := filepath.Dir(CachePath(home, "gpu1")); got != home {
		t.Errorf("labelled cache lives in %q, want %q", got, home)
	}
}

// TestSaveCacheModes checks that the directory ends up 0700 and the file 0600
// whatever the umask: a permissive 000, the usual 022, and a hostile 377 that
// would otherwise leave the directory unusable and the file unreadable.
func TestSaveCacheModes(t *testing.T) {
	skipOnWindows(t)
	for _, mask := range []int{0o000, 0o022, 0o377} {
		t.Run(fmt.Sprintf("umask %03o", mask), func(t *testing.T) {
			home := filepath.Join(t.TempDir(), ".argus-agent")
			path := CachePath(home, "")
			withUmask(t, mask)
			if err := SaveCache(path, sampleCache(t)); err != nil {
				t.Fatalf("SaveCache: %v", err)
			}
			if got := perm(t, home); got != 0o700 {
				t.Errorf("dir mode = %04o, want 0700", got)
			}
			if got := perm(t, path); got != 0o600 {
				t.Errorf("file mode = %04o, want 0600", got)
			}
			st, _ := os.Stat(home)
			if !st.IsDir() {
				t.Errorf("%s is not a directory", home)
			}
			assertOnly(t, home, "token.json")
		})
	}
}

func TestSaveCacheNestedDir(t *testing.T) {
	skipOnWindows(t)
	home := filepath.Join(t.TempDir(), "a", "b", ".argus-agent")
	path := CachePath(home, "gpu1")
	if err := SaveCache(path, sampleCache(t)); err != nil {
		t.Fatalf("SaveCache: %v", err)
	}
	if got := perm(t, home); got != 0o700 {
		t.Errorf("dir mode = %04o, want 0700", got)
	}
	if got := perm(t, path); got != 0o600 {
		t.Errorf("file mode = %04o, want 0600", got)
	}
}

func TestSaveCacheTightensExistingDirAndFile(t *testing.T) {
	skipOnWindows(t)
	home := filepath.Join(t.TempDir(), ".argus-agent")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(home, 0o755); err != nil {
		t.Fatal(err)
	}
	path := CachePath(home, "")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := SaveCache(path, sampleCache(t)); err != nil {
		t.Fatalf("SaveCache: %v", err)
	}
	if got := perm(t, home); got != 0o700 {
		t.Errorf("existing dir mode = %04o after save, want 0700", got)
	}
	if got := perm(t, path); got != 0o600 {
		t.Errorf("replaced file mode = %04o, want 0600", got)
	}
	if _, err := LoadCache(path); err != nil {
		t.Errorf("LoadCache after tightening: %v", err)
	}
}

func TestCacheRoundTrip(t *testing.T) {
	for _, label := range []string{"", "gpu1"} {
		t.Run("label="+label, func(t *testing.T) {
			home := filepath.Join(t.TempDir(), ".argus-agent")
			path := CachePath(home, label)
			want := sampleCache(t)
			want.Label = label
			if err := SaveCache(path, want); err != nil {
				t.Fatalf("SaveCache: %v", err)
			}
			got, err := LoadCache(path)
			if err != nil {
				t.Fatalf("LoadCache: %v", err)
			}
			assertSameCache(t, got, want)

			// The on-disk format uses these field names.
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatalf("file is not JSON: %v\n%s", err, raw)
			}
			for k, v := range map[string]string{
				"url":           want.URL,
				"agent_id":      want.AgentID,
				"token":         want.Token,
				"hostname":      want.Hostname,
				"registered_at": "2024-05-17T12:34:56.789Z",
			} {
				if m[k] != v {
					t.Errorf("file field %q = %v, want %q", k, m[k], v)
				}
			}
			if _, ok := m["label"]; ok != (label != "") {
				t.Errorf("label present = %v for label %q", ok, label)
			}
			if !strings.HasSuffix(string(raw), "}\n") {
				t.Errorf("file does not end in a newline: %q", raw)
			}
		})
	}
}

func TestCacheLabelsAreSeparate(t *testing.T) {
	home := filepath.Join(t.TempDir(), ".argus-agent")
	def, gpu := sampleCache(t), sampleCache(t)
	def.Label, gpu.Label = "", "gpu1"
	if err := SaveCache(CachePath(home, ""), def); err != nil {
		t.Fatal(err)
	}
	if err := SaveCache(CachePath(home, "gpu1"), gpu); err != nil {
		t.Fatal(err)
	}
	gotDef, err := LoadCache(CachePath(home, ""))
	if err != nil {
		t.Fatal(err)
	}
	gotGPU, err := LoadCache(CachePath(home, "gpu1"))
	if err != nil {
		t.Fatal(err)
	}
	if gotDef.Token != def.Token || gotGPU.Token != gpu.Token || def.Token == gpu.Token {
		t.Errorf("labels mixed up: default %q gpu1 %q", gotDef.Token, gotGPU.Token)
	}
	assertOnly(t, home, "token-gpu1.json", "token.json")
}

func TestSaveCacheOverwriteIsAtomic(t *testing.T) {
	home := filepath.Join(t.TempDir(), ".argus-agent")
	path := CachePath(home, "")
	first, second := sampleCache(t), sampleCache(t)
	second.AgentID = "agt_second"
	if err := SaveCache(path, first); err != nil {
		t.Fatalf("first SaveCache: %v", err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := SaveCache(path, second); err != nil {
		t.Fatalf("second SaveCache: %v", err)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// Replaced by rename, not rewritten in place: a reader holding the old
	// file never sees a half-written one.
	if os.SameFile(before, after) {
		t.Error("overwrite rewrote the file in place instead of renaming a new one over it")
	}
	got, err := LoadCache(path)
	if err != nil {
		t.Fatalf("LoadCache: %v", err)
	}
	assertSameCache(t, got, second)
	assertOnly(t, home, "token.json")
	if runtime.GOOS != "windows" {
		if m := perm(t, path); m != 0o600 {
			t.Errorf("overwritten file mode = %04o, want 0600", m)
		}
	}
}

// TestSaveCacheFailedRenameLeavesNoTemp makes the final rename fail (the target
// is a non-empty directory) and checks the temp file is cleaned up.
func TestSaveCacheFailedRenameLeavesNoTemp(t *testing.T) {
	home := filepath.Join(t.TempDir(), ".argus-agent")
	path := CachePath(home, "")
	if err := os.MkdirAll(filepath.Join(path, "blocker"), 0o700); err != nil {
		t.Fatal(err)
	}
	err := SaveCache(path, sampleCache(t))
	if err == nil {
		t.Fatal("SaveCache over a directory succeeded")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
	assertOnly(t, home, "token.json")
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
			home := filepath.Join(t.TempDir(), ".argus-agent")
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
	home := filepath.Join(t.TempDir(), ".argus-agent")
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

func changed(b byte) byte {
	if b == 'A' {
		return 'B'
	}
	return 'A'
}

func TestLoadCacheMissing(t *testing.T) {
	path := CachePath(filepath.Join(t.TempDir(), "nope"), "gpu1")
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

// writeRaw writes data to path with exactly the given mode, regardless of umask.
func writeRaw(t *testing.T, path string, data []byte, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func cacheJSON(t *testing.T, c Cache) []byte {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadCacheRefusesOpenModes(t *testing.T) {
	skipOnWindows(t)
	for _, mode := range []fs.FileMode{0o644, 0o640, 0o604, 0o660, 0o606, 0o620, 0o602, 0o666, 0o610} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			path := CachePath(filepath.Join(t.TempDir(), ".argus-agent"), "")
			c := sampleCache(t)
			writeRaw(t, path, cacheJSON(t, c), mode)
			if got := perm(t, path); got != mode {
				t.Fatalf("setup: mode %04o, want %04o", got, mode)
			}
			_, err := LoadCache(path)
			if err == nil {
				t.Fatalf("LoadCache accepted a %04o file", mode)
			}
			msg := err.Error()
			if !strings.Contains(msg, "chmod 600") {
				t.Errorf("error %q does not say chmod 600", msg)
			}
			if !strings.Contains(msg, "chmod 600 "+path) {
				t.Errorf("error %q does not give the full command for %s", msg, path)
			}
			if !strings.Contains(msg, fmt.Sprintf("%04o", mode)) {
				t.Errorf("error %q does not show the mode %04o", msg, mode)
			}
			if strings.Contains(msg, c.Token) {
				t.Errorf("error %q echoes the token", msg)
			}
			if errors.Is(err, ErrCacheMissing) {
				t.Errorf("open-mode error %v wraps ErrCacheMissing", err)
			}
			// The fix the message suggests works.
			if err := os.Chmod(path, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadCache(path)
			if err != nil {
				t.Fatalf("LoadCache after chmod 600: %v", err)
			}
			assertSameCache(t, got, c)
		})
	}
}

func TestLoadCacheAcceptsOwnerOnlyModes(t *testing.T) {
	skipOnWindows(t)
	for _, mode := range []fs.FileMode{0o600, 0o400} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			path := CachePath(filepath.Join(t.TempDir(), ".argus-agent"), "")
			c := sampleCache(t)
			writeRaw(t, path, cacheJSON(t, c), mode)
			got, err := LoadCache(path)
			if err != nil {
				t.Fatalf("LoadCache(%04o): %v", mode, err)
			}
			assertSameCache(t, got, c)
		})
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
			path := CachePath(filepath.Join(t.TempDir(), ".argus-agent"), "")
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
			path := CachePath(filepath.Join(t.TempDir(), ".argus-agent"), "")
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
