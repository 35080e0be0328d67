package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// The three binaries the harness runs, by their cmd/ folder.
const (
	ServerBin = "argus-server"
	AgentBin  = "argus-agent"
	CLIBin    = "argus"
)

// Builder compiles the module's binaries into one directory, each name and
// tag set once, however many tests ask for it at the same time.
type Builder struct {
	dir  string
	root string // module root, found on first build

	mu    sync.Mutex
	built map[buildKey]*buildOnce
}

type buildKey struct{ name, tags string }

// buildOnce is one binary: the first caller builds it while the others
// wait. A failure is not kept, so a caller whose context ended does not
// fail the ones after it.
type buildOnce struct {
	mu   sync.Mutex
	path string
}

// NewBuilder builds into dir, which the caller creates and removes.
func NewBuilder(dir string) *Builder {
	return &Builder{dir: dir, built: map[buildKey]*buildOnce{}}
}

// Build returns the path of cmd/<name> built with tags, building it on the
// first call. Concurrent callers of the same binary wait for one build.
func (b *Builder) Build(ctx context.Context, name string, tags ...string) (string, error) {
	key := buildKey{name, strings.Join(slices.Sorted(slices.Values(tags)), ",")}
	b.mu.Lock()
	one, ok := b.built[key]
	if !ok {
		one = &buildOnce{}
		b.built[key] = one
	}
	b.mu.Unlock()
	one.mu.Lock()
	defer one.mu.Unlock()
	if one.path != "" {
		return one.path, nil
	}
	path, err := b.build(ctx, key)
	if err != nil {
		return "", err
	}
	one.path = path
	return path, nil
}

// build runs go build for key into a folder of its tag set, so that no two
// keys can share a file.
func (b *Builder) build(ctx context.Context, key buildKey) (string, error) {
	root, err := b.moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	folder := "tags-none"
	if key.tags != "" {
		folder = "tags-" + strings.ReplaceAll(key.tags, ",", "-")
	}
	out := filepath.Join(b.dir, folder, key.name)
	cmd := exec.CommandContext(ctx, "go", "-C", root, "build", "-tags", key.tags, "-o", out, "./cmd/"+key.name)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/%s: %v\n%s", key.name, err, msg)
	}
	return out, nil
}

// moduleRoot is the folder of the go.mod the current directory belongs to:
// tests run in their package folder, the benchmark from the repository.
func (b *Builder) moduleRoot(ctx context.Context) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.root != "" {
		return b.root, nil
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the argus module: go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the argus module: run from the repository")
	}
	root := filepath.Dir(gomod)
	if _, err := os.Stat(filepath.Join(root, "cmd", ServerBin)); err != nil {
		return "", fmt.Errorf("module %s has no cmd/%s: run from the argus repository", root, ServerBin)
	}
	b.root = root
	return root, nil
}
