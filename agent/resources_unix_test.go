//go:build !windows

package agent

import (
	"bytes"
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
)

// sampleOnce takes one sample and returns the report as the server reads
// it.
func sampleOnce(t *testing.T, s *sampler) api.Resources {
	t.Helper()
	s.sample(t.Context())
	r, err := api.ParseResources(s.report())
	if err != nil {
		t.Fatalf("the server refuses the report %q: %v", s.report(), err)
	}
	return r
}

func TestSamplerReportsTheHostAndNvidiaSMIsGPUs(t *testing.T) {
	t.Setenv("PATH", testenv.FakeNvidiaSMI(t, testenv.NvidiaSMIA100x2)+":"+os.Getenv("PATH"))
	var log bytes.Buffer
	s := newSampler(t.TempDir(), zerolog.New(&log))
	if got := s.report(); got != "" {
		t.Fatalf("report before the first sample: %q", got)
	}
	r := sampleOnce(t, s)
	want := []api.GPU{
		{Index: 0, Name: "NVIDIA A100-SXM4-80GB", UtilPercent: 97, MemUsedMiB: 79872, MemTotalMiB: 81920},
		{Index: 1, Name: "NVIDIA A100-SXM4-80GB", UtilPercent: 0, MemUsedMiB: 4, MemTotalMiB: 81920},
	}
	if !reflect.DeepEqual(r.GPUs, want) {
		t.Errorf("GPUs %+v, want %+v", r.GPUs, want)
	}
	if r.CPUs <= 0 || r.MemTotalBytes == 0 || r.MemAvailBytes > r.MemTotalBytes ||
		r.DiskTotalBytes == 0 || r.DiskFreeBytes > r.DiskTotalBytes || r.Load1 < 0 {
		t.Errorf("host figures missing or impossible: %+v", r)
	}
	if log.Len() != 0 {
		t.Errorf("logged: %s", log.String())
	}
}

func TestSamplerWithoutNvidiaSMIReportsNoGPUsSilently(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	var log bytes.Buffer
	r := sampleOnce(t, newSampler(t.TempDir(), zerolog.New(&log)))
	if len(r.GPUs) != 0 || r.CPUs <= 0 || r.MemTotalBytes == 0 {
		t.Errorf("got %+v, want the host figures and no GPUs", r)
	}
	if log.Len() != 0 {
		t.Errorf("logged: %s", log.String())
	}
}

// A broken nvidia-smi is worth one warning, not one every sample; another
// failure is worth another, and a GPU list is back as soon as it works.
func TestSamplerWarnsOncePerNvidiaSMIFailure(t *testing.T) {
	garbage := testenv.FakeNvidiaSMI(t, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n")
	huge := testenv.FakeNvidiaSMI(t, strings.Repeat(testenv.NvidiaSMIA100x2, maxNvidiaSMIOutput/len(testenv.NvidiaSMIA100x2)+1))
	good := testenv.FakeNvidiaSMI(t, testenv.NvidiaSMIA100x2)
	var log bytes.Buffer
	s := newSampler(t.TempDir(), zerolog.New(&log))
	warnings := func() int { return strings.Count(log.String(), `"level":"warn"`) }
	for _, step := range []struct {
		dir      string
		warnings int
		gpus     int
	}{
		{garbage, 1, 0}, {garbage, 1, 0}, {huge, 2, 0}, {huge, 2, 0}, {good, 2, 2}, {garbage, 3, 0},
	} {
		t.Setenv("PATH", step.dir)
		r := sampleOnce(t, s)
		if warnings() != step.warnings || len(r.GPUs) != step.gpus {
			t.Fatalf("with %s: %d warnings and GPUs %+v, want %d and %d GPUs; log:\n%s",
				step.dir, warnings(), r.GPUs, step.warnings, step.gpus, log.String())
		}
	}
	if !strings.Contains(log.String(), "printed more than") || !strings.Contains(log.String(), "couldn't communicate") {
		t.Errorf("the warnings do not say what went wrong:\n%s", log.String())
	}
}

// run samples at once, then keeps sampling, and returns when its context
// ends.
func TestSamplerRunSamplesAtOnceAndEndsWithItsContext(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	s := newSampler(t.TempDir(), zerolog.Nop())
	var mu sync.Mutex
	queried := 0
	s.gpus = func(context.Context) ([]api.GPU, error) {
		mu.Lock()
		defer mu.Unlock()
		queried++
		return nil, nil
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); s.run(ctx) }()
	err := testenv.Poll(t.Context(), api.ResourcesEvery/2, func() error {
		if s.report() == "" {
			return errors.New("no report yet")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("no report well before the first tick: %v", err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("run goes on after its context ended")
	}
	mu.Lock()
	defer mu.Unlock()
	if queried != 1 {
		t.Errorf("%d samples before the first tick, want 1", queried)
	}
}

// nvidia-smi runs without the agent's token and settings, whatever it is.
func TestNvidiaSMIDoesNotSeeTheAgentsVariables(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\necho \"0, ${ARGUS_TOKEN-none}|${argus_url-none}|${LEAK-none}|${KEEP-none}, 1, 2, 3\"\n"
	if err := os.WriteFile(dir+"/nvidia-smi", []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	t.Setenv("ARGUS_TOKEN", "ag_live_x")
	t.Setenv("argus_url", "http://argus.example")
	t.Setenv("LEAK", "https://u:em_live_x@h")
	t.Setenv("KEEP", "kept")
	gpus, err := queryGPUs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(gpus) != 1 || gpus[0].Name != "none|none|none|kept" {
		t.Errorf("nvidia-smi saw %+v, want none of the agent's variables and the others", gpus)
	}
}
