package tempdir

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func newDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", strings.NewReplacer("/", "_", "\\", "_", ":", "_").Replace(t.Name()))
	if err != nil {
		t.Fatalf("tempdir: %v", err)
	}
	t.Cleanup(func() {
		if err := removeTree(dir); err != nil {
			t.Errorf("tempdir: remove %s: %v", dir, err)
		}
	})
	return dir
}

// removeTree deletes dir deepest names first, each with os.Remove.
func removeTree(dir string) error {
	var names []string
	err := filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err == nil {
			names = append(names, path)
		}
		return err
	})
	if err != nil {
		return err
	}
	sort.Sort(sort.Reverse(sort.StringSlice(names))) // children sort after their parent
	for _, n := range names {
		if err := os.Remove(n); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}
