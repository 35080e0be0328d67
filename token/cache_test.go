package token

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/internal/tempdir"
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

func TestCacheRoundTrip(t *testing.T) {
	for _, label := range []string{"", "gpu1"} {
		t.Run("label="+label, func(t *testing.T) {
			home := filepath.Join(tempdir.New(t), ".argus-agent")
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
	home := filepath.Join(tempdir.New(t), ".argus-agent")
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

func TestValidLabel(t *testing.T) {
	for _, ok := range []string{"a", "Z", "7", "gpu1", "gpu-01", "night.shift", "a_b", "0.9-rc_1", strings.Repeat("x", 64)} {
		if err := ValidLabel(ok); err != nil {
			t.Errorf("ValidLabel(%q) = %v, want nil", ok, err)
		}
	}
	bad := []string{
		"", strings.Repeat("x", 65), ".", "..", ".hidden", "-flag", "_x",
		"a/b", "../etc", `a\\b`, "a b", "a:b", "a\x00b", "a\nb", "ünï", "a*", "a%2f",
	}
	for _, label := range bad {
		err := ValidLabel(label)
		if err == nil {
			t.Errorf("ValidLabel(%q) accepted", label)
			continue
		}
		if !strings.Contains(err.Error(), "1-64 characters") || !strings.Contains(err.Error(), "starting with a letter or digit") {
			t.Errorf("ValidLabel(%q) error %q does not state the rule", label, err)
		}
	}
	// A valid label keeps the cache file in home.
	home := filepath.Join("home", "alice", ".argus-agent")
	for _, label := range []string{"gpu1", "a..b", "x.json"} {
		if ValidLabel(label) != nil {
			t.Fatalf("%q should be valid", label)
		}
		if got := filepath.Dir(CachePath(home, label)); got != home {
			t.Errorf("CachePath(home, %q) lives in %q", label, got)
		}
	}
}
