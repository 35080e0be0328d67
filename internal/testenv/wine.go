//go:build linux

package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The Windows agent at runtime: argus-agent built for Windows and run
// under Wine (Debian's wine64, Wine 8) against a Linux server, so its
// process groups, job objects, console events and exit codes are run,
// not only compiled. Two things Wine 8 needs for Go binaries:
//   - Go ≥ 1.24 calls ProcessPrng from bcryptprimitives.dll, which Wine 8
//     lacks: a shim DLL (wineShimC) forwarding to BCryptGenRandom, built
//     with Debian's x86_64-w64-mingw32-gcc, goes into the prefix's
//     system32;
//   - a throwaway WINEPREFIX per test process, torn down with
//     wineserver -k so no Windows process outlives the test.

// wineShimC is the whole of the shim DLL.
const wineShimC = `#include <windows.h>
#include <bcrypt.h>
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    return BCryptGenRandom(NULL, data, (ULONG)len, BCRYPT_USE_SYSTEM_PREFERRED_RNG) == 0;
}
`

// Wine is a prefix ready to run the Windows agent.
type Wine struct {
	Prefix string // WINEPREFIX
	Agent  string // argus-agent.exe, a Linux path
	dir    string // the test's folder, for what it builds
}

// NewWine makes a Wine prefix with the shim under dir, argus-agent.exe
// and the shim being built once per test process. Without wine or the mingw compiler the test fails under CI=true
// (CI installs both) and is skipped, saying what to install, elsewhere.
func NewWine(t *testing.T, dir string) *Wine {
	t.Helper()
	for _, tool := range []string{"wine", "wineboot", "wineserver", "winepath", "x86_64-w64-mingw32-gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing: CI must install wine64 and gcc-mingw-w64-x86-64 for the Windows agent's tests", tool)
			}
			t.Skipf("%s is missing: install wine64 and gcc-mingw-w64-x86-64 to run the Windows agent under Wine", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	exe, dll, err := windowsBuilds(ctx)
	if err != nil {
		t.Fatalf("Wine for the Windows agent: %v", err)
	}
	w := &Wine{Prefix: filepath.Join(dir, "wineprefix"), Agent: exe, dir: dir}
	if err := w.boot(ctx, dll); err != nil {
		t.Fatalf("Wine for the Windows agent: %v", err)
	}
	t.Cleanup(w.kill)
	return w
}

// windows holds what every prefix of this test process shares, built once:
// argus-agent.exe and the shim DLL, in the builder's folder.
var windows struct {
	once     sync.Once
	exe, dll string
	err      error
}

func windowsBuilds(ctx context.Context) (exe, dll string, err error) {
	if builder == nil {
		return "", "", errors.New("testenv: call testenv.Main(m) from the package's TestMain")
	}
	windows.once.Do(func() { windows.exe, windows.dll, windows.err = buildForWindows(ctx) })
	return windows.exe, windows.dll, windows.err
}

func buildForWindows(ctx context.Context) (exe, dll string, err error) {
	root, err := builder.moduleRoot(ctx)
	if err != nil {
		return "", "", err
	}
	dir := filepath.Join(builder.dir, "windows-amd64")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	exe = filepath.Join(dir, AgentBin+".exe")
	build := exec.CommandContext(ctx, "go", "-C", root, "build", "-o", exe, "./cmd/"+AgentBin)
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("GOOS=windows go build ./cmd/%s: %v\n%s", AgentBin, err, out)
	}
	src, dll := filepath.Join(dir, "shim.c"), filepath.Join(dir, "bcryptprimitives.dll")
	if err := os.WriteFile(src, []byte(wineShimC), 0o600); err != nil {
		return "", "", err
	}
	if out, err := exec.CommandContext(ctx, "x86_64-w64-mingw32-gcc", "-shared", "-O2", "-o", dll, src, "-lbcrypt").CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("build the ProcessPrng shim: %v\n%s", err, out)
	}
	return exe, dll, nil
}

// boot makes the prefix and puts the shim in its system32.
func (w *Wine) boot(ctx context.Context, dll string) error {
	boot := exec.CommandContext(ctx, "wineboot", "-i")
	boot.Env = w.env(os.Environ())
	if out, err := boot.CombinedOutput(); err != nil {
		return fmt.Errorf("wineboot -i: %v\n%s", err, out)
	}
	data, err := os.ReadFile(dll)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(w.Prefix, "drive_c", "windows", "system32", "bcryptprimitives.dll"), data, 0o644)
}

// env adds the prefix's variables to base.
func (w *Wine) env(base []string) []string {
	return append(base, "WINEPREFIX="+w.Prefix, "WINEDEBUG=-all")
}

// Env is what a process run under this prefix needs besides its own.
func (w *Wine) Env() []string { return w.env(nil) }

// Spec is an AgentSpec that runs the Windows agent under Wine with its
// home at the Linux path home.
func (w *Wine) Spec(home string, args ...string) AgentSpec {
	return AgentSpec{Bin: w.Agent, Launcher: []string{"wine"}, Home: WindowsPath(home), Args: args, Env: w.Env(),
		LogPath: home + ".log", ReadyWithin: time.Minute}
}

// WindowsPath is a Linux path as Wine's Windows programs see it (drive Z:
// is the Linux root).
func WindowsPath(p string) string { return `Z:` + strings.ReplaceAll(p, "/", `\`) }

// kill ends every Windows process of the prefix, runs included.
func (w *Wine) kill() {
	cmd := exec.Command("wineserver", "-k")
	cmd.Env = w.env(os.Environ())
	_ = cmd.Run()
	wait := exec.Command("wineserver", "-w")
	wait.Env = w.env(os.Environ())
	_ = wait.Run()
}

// RunTests builds pkg's tests for Windows (go test -c) and runs them
// under this prefix, verbose, returning what they printed and their exit
// code.
func (w *Wine) RunTests(t *testing.T, pkg string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root, err := builder.moduleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(w.dir, strings.ReplaceAll(strings.Trim(pkg, "./"), "/", "_")+".test.exe")
	build := exec.CommandContext(ctx, "go", "-C", root, "test", "-c", "-o", exe, pkg)
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=windows go test -c %s: %v\n%s", pkg, err, out)
	}
	r, err := Run(ctx, RunSpec{Argv: []string{"wine", exe, "-test.v"}, Env: append(w.Env(), "ARGUS_UNDER_WINE=1"), Dir: filepath.Dir(exe)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
