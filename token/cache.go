package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/argus-exec/argus/internal/atomicfile"
)

// Cache is what the agent keeps on disk after registering: its identity and
// its own ag_live_ token. Never the user's em_live_ token.
type Cache struct {
	URL          string    `json:"url"`
	AgentID      string    `json:"agent_id"`
	Token        string    `json:"token"`
	Label        string    `json:"label,omitempty"`
	Hostname     string    `json:"hostname,omitempty"`
	RegisteredAt time.Time `json:"registered_at"`
}

// ErrCacheMissing is returned by LoadCache when no token file exists yet.
var ErrCacheMissing = errors.New("no cached agent token")

// CachePath is where the token for a label lives under the agent's home:
// token.json for the default agent, token-<label>.json for others, so that
// several agents can share one home directory. A non-empty label must
// satisfy ValidLabel, or the path may leave home; callers check it where the
// label comes in (the agent's --label flag).
func CachePath(home, label string) string {
	if label == "" {
		return filepath.Join(home, "token.json")
	}
	return filepath.Join(home, "token-"+label+".json")
}

// labelPattern is the rule the server applies to agent labels too.
var labelPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidLabel reports whether label can name an agent: 1 to 64 characters
// from A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or digit. Such
// a label is a safe part of a file name (no separators, no "..", no leading
// dot or dash).
func ValidLabel(label string) error {
	if !labelPattern.MatchString(label) {
		return fmt.Errorf("invalid label %q: use 1-64 characters from A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or digit", label)
	}
	return nil
}

// SaveCache writes c to path atomically: the directory is created 0700, the
// data goes to a 0600 temp file in the same directory, is synced, and is
// renamed over path. A crash leaves either the old file or the new one.
func SaveCache(path string, c Cache) error {
	kind, err := Parse(c.Token)
	if err != nil {
		return fmt.Errorf("refusing to cache an invalid token: %w", err)
	}
	if kind != Agent {
		return fmt.Errorf("refusing to cache a %s token: only the agent's own %s token is cached", kind, Agent)
	}
	dir := filepath.Dir(path)
	// Judged before the chmod below: tightening a directory that others
	// could already write (or /tmp) would hide the problem, not fix it.
	if err := CheckHome(dir, os.Geteuid()); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("restrict %s to its owner: %w", dir, err)
	}
	// Judged again now it exists: a directory someone else made first is
	// theirs, whatever MkdirAll and (as root) Chmod made of it.
	if err := CheckHome(dir, os.Geteuid()); err != nil {
		return err
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(data, '\n'), true)
}

// LoadCache reads the token file at path for an agent running as this
// process's user: LoadCacheOwnedBy(path, os.Geteuid()).
func LoadCache(path string) (Cache, error) {
	return LoadCacheOwnedBy(path, os.Geteuid())
}

// LoadCacheOwnedBy reads the token file at path on behalf of uid, the user
// the agent runs as. It refuses, saying how to fix it, a home directory
// that fails CheckHome, and a file that is not uid's or that anyone but its
// owner can read or write: a token that leaked to another local user is as
// good as theirs, and whoever can write the file picks the server the
// agent obeys. It also refuses a symlink: whoever can point it elsewhere
// chooses which token the agent uses, and the permission check would judge
// the link's target, not path.
func LoadCacheOwnedBy(path string, uid int) (Cache, error) {
	var c Cache
	if err := CheckHome(filepath.Dir(path), uid); err != nil {
		return c, err
	}
	lst, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, fmt.Errorf("%w at %s: run argus-agent --register first", ErrCacheMissing, path)
	}
	if err != nil {
		return c, err
	}
	if lst.Mode()&fs.ModeSymlink != 0 {
		return c, fmt.Errorf("token file %s is a symlink; refusing to follow it: replace it with the file itself", path)
	}
	if !lst.Mode().IsRegular() {
		return c, fmt.Errorf("token file %s is not a regular file: remove it and run argus-agent --reregister", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return c, err
	}
	defer f.Close()
	// Judge the file that is open, not the name: it may have been swapped
	// since the Lstat above.
	st, err := f.Stat()
	if err != nil {
		return c, err
	}
	if !os.SameFile(lst, st) {
		return c, fmt.Errorf("token file %s changed while it was being opened: try again", path)
	}
	if err := checkPrivate(path, st, uid); err != nil {
		return c, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return c, fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("token file %s is corrupt (%v): run argus-agent --reregister", path, err)
	}
	if kind, err := Parse(c.Token); err != nil || kind != Agent {
		return c, fmt.Errorf("token file %s holds no valid ag_live_ token: run argus-agent --reregister", path)
	}
	return c, nil
}
