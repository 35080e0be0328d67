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
	built map[string]*buildOnce
}

type buildOnce struct {
	once sync.Once
	path string
	err  error
}

// NewBuilder builds into dir, which the caller creates and removes.
func NewBuilder(dir string) *Builder {
	return &Builder{dir: dir, built: map[string]*buildOnce{}}
}

// Build returns the path of cmd/<name> built with tags, building it on the
// first call. Concurrent callers of the same binary wait for one build.
func (b *Builder) Build(ctx context.Context, name string, tags ...string) (string, error) {
	tags = slices.Sorted(slices.Values(tags))
	key := name
	if len(tags) > 0 {
		key += "-" + strings.Join(tags, "-")
	}
	b.mu.Lock()
	one, ok := b.built[key]
	if !ok {
		one = &buildOnce{}
		b.built[key] = one
	}
	b.mu.Unlock()
	one.once.Do(func() { one.path, one.err = b.build(ctx, name, key, tags) })
	return one.path, one.err
}

func (b *Builder) build(ctx context.Context, name, key string, tags []string) (string, error) {
	root, err := b.moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	out := filepath.Join(b.dir, key, name)
	args := []string{"-C", root, "build", "-o", out}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/"+name)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/%s: %v\n%s", name, err, msg)
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
