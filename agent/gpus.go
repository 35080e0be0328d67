// The host's GPUs as nvidia-smi lists them, for the resources report
// (resources.go): running nvidia-smi safely (bounded in time and output,
// without the agent's token or settings) and reading its CSV.

package agent

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/token"
)

// nvidia-smi's query and the columns parseGPUs expects, in this order.
var nvidiaSMIArgs = []string{
	"--query-gpu=index,name,utilization.gpu,memory.used,memory.total",
	"--format=csv,noheader,nounits",
}

const (
	// nvidia-smi answers in well under a second; a wedged driver can
	// make it hang, and the next sample tries again.
	nvidiaSMITimeout = 5 * time.Second
	// Far more than 16 GPUs' lines; a bound on what a broken or foreign
	// nvidia-smi can make the agent hold.
	maxNvidiaSMIOutput = 64 << 10
)

// queryGPUs runs nvidia-smi, looked up on PATH each time so that a driver
// installed while the agent runs is picked up. No nvidia-smi is a host
// without NVIDIA GPUs: no GPUs and no error.
func queryGPUs(ctx context.Context) ([]api.GPU, error) {
	path, err := exec.LookPath("nvidia-smi")
	if err != nil {
		return nil, nil
	}
	out, err := runNvidiaSMI(ctx, path)
	if err != nil {
		return nil, err
	}
	gpus, err := parseGPUs(out)
	if err != nil {
		return nil, fmt.Errorf("%w (it printed %q)", err, firstLine(string(out)))
	}
	return gpus, nil
}

func runNvidiaSMI(ctx context.Context, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, nvidiaSMITimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, nvidiaSMIArgs...)
	cmd.Env = toolEnv(os.Environ())
	stdout := &cappedBuffer{limit: maxNvidiaSMIOutput}
	stderr := &cappedBuffer{limit: 512}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// A child of nvidia-smi holding its output open must not hold the
	// sampler past the timeout.
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("nvidia-smi: no answer within %s: %w", nvidiaSMITimeout, err)
		}
		// nvidia-smi says why it failed on stdout ("NVIDIA-SMI has failed
		// because it couldn't communicate with the NVIDIA driver").
		return nil, fmt.Errorf("nvidia-smi: %w: %s", err, firstLine(stderr.buf.String()+"\n"+stdout.buf.String()))
	}
	if stdout.over {
		return nil, fmt.Errorf("nvidia-smi printed more than %d bytes", maxNvidiaSMIOutput)
	}
	return stdout.buf.Bytes(), nil
}

// toolEnv is env without the agent's own variables (ARGUS_*, which hold
// its token and settings) or anything holding a token: a tool the agent
// runs for itself has no use for them.
func toolEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(strings.ToUpper(k), "ARGUS_") || token.InEnv(k, v) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// parseGPUs reads nvidia-smi's CSV (nvidiaSMIArgs), keeping the first
// api.MaxGPUs GPUs. Output that is not that CSV is an error, not a
// guess: a foreign nvidia-smi must not make up GPUs.
func parseGPUs(out []byte) ([]api.GPU, error) {
	r := csv.NewReader(bytes.NewReader(out))
	r.TrimLeadingSpace = true
	r.FieldsPerRecord = 5 // the columns of nvidiaSMIArgs
	var gpus []api.GPU
	for len(gpus) < api.MaxGPUs {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("nvidia-smi output: %w", err)
		}
		g, err := parseGPU(rec)
		if err != nil {
			line, _ := r.FieldPos(0)
			return nil, fmt.Errorf("nvidia-smi output, line %d: %w", line, err)
		}
		gpus = append(gpus, g)
	}
	return gpus, nil
}

// parseGPU reads one record: index, name, utilization.gpu, memory.used,
// memory.total.
func parseGPU(rec []string) (api.GPU, error) {
	var nums [4]int
	for i, f := range []string{rec[0], rec[2], rec[3], rec[4]} {
		n, err := gpuNumber(f)
		if err != nil {
			return api.GPU{}, err
		}
		nums[i] = n
	}
	return api.GPU{
		Index: nums[0], Name: gpuName(rec[1]),
		UtilPercent: nums[1], MemUsedMiB: nums[2], MemTotalMiB: nums[3],
	}, nil
}

// gpuNumber reads a count; what nvidia-smi cannot tell of a GPU
// ("[N/A]", "[Not Supported]") is 0.
func gpuNumber(f string) (int, error) {
	f = strings.TrimSpace(f)
	if f == "N/A" || (strings.HasPrefix(f, "[") && strings.HasSuffix(f, "]")) {
		return 0, nil
	}
	n, err := strconv.Atoi(f)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a count", f)
	}
	return n, nil
}

// gpuName is a name the server accepts (api.ParseResources): valid UTF-8
// (JSON would turn a stray byte into three), no control characters, at
// most api.MaxGPUName bytes, cut between characters.
func gpuName(s string) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if api.Hidden(r) {
			return -1
		}
		return r
	}, s)
	return api.CutText(strings.TrimSpace(s), api.MaxGPUName)
}

// firstLine is the first non-blank line of s, shortened, for an error.
func firstLine(s string) string {
	for line := range strings.Lines(s) {
		if line = strings.TrimSpace(line); line != "" {
			if len(line) > 200 {
				line = strings.ToValidUTF8(line[:200], "")
			}
			return line
		}
	}
	return "no output"
}

// cappedBuffer keeps the first limit bytes written to it and discards the
// rest, still accepting them, so a writer that goes on is never blocked.
// It has no ReadFrom (as an embedded bytes.Buffer would give it), which
// io.Copy would call instead of Write, past the cap.
type cappedBuffer struct {
	buf   bytes.Buffer
	limit int
	over  bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if room := b.limit - b.buf.Len(); n > room {
		b.over = true
		p = p[:max(room, 0)]
	}
	b.buf.Write(p)
	return n, nil
}
