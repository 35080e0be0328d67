package api

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// HeaderResources carries an agent's Resources, as compact JSON, on its
// jobs polls and heartbeats. A header rather than a request of its own:
// an idle agent's one connection is its poll, and a report costs the
// fleet no extra requests. The agent samples at most every
// ResourcesEvery; the server keeps the newest report of each agent.
const HeaderResources = "Argus-Resources"

// ResourcesEvery is the shortest interval between two samples of a host.
const ResourcesEvery = 10 * time.Second

// Limits of a report, checked by the server (a report past them is
// ignored, not an error: the poll it rides on must not fail for it).
const (
	MaxResourcesHeader = 4096
	MaxGPUs            = 16
	MaxGPUName         = 100
	MaxGPUError        = 200
)

// Resources is what an agent last reported of its host: load, memory,
// the disk of its home, and its GPUs as nvidia-smi lists them (none when
// the host has no nvidia-smi). Byte counts are bytes, GPU memory MiB as
// nvidia-smi gives it.
type Resources struct {
	// SampledAt is set by the server: when the report arrived (the
	// agent's clock is not trusted for "how fresh is this").
	SampledAt      time.Time `json:"sampled_at,omitzero"`
	CPUs           int       `json:"cpus,omitempty"`
	Load1          float64   `json:"load1"`
	MemTotalBytes  uint64    `json:"mem_total_bytes,omitempty"`
	MemAvailBytes  uint64    `json:"mem_available_bytes,omitempty"`
	DiskFreeBytes  uint64    `json:"disk_free_bytes,omitempty"`
	DiskTotalBytes uint64    `json:"disk_total_bytes,omitempty"`
	GPUs           []GPU     `json:"gpus,omitempty"`
	// GPUError says why the GPUs could not be read on a host that has
	// nvidia-smi (it failed, timed out, printed something else): not the
	// same as a host without GPUs.
	GPUError string `json:"gpu_error,omitempty"`
	// AgeMS is how old the sample was when sent, in milliseconds: a
	// relative figure, so the server can date it without trusting the
	// agent's clock (a sampler stuck on a hung disk keeps sending the same
	// old sample, and the UI must not call it fresh).
	AgeMS int64 `json:"age_ms,omitempty"`
}

// GPU is one line of nvidia-smi --query-gpu.
type GPU struct {
	Index       int    `json:"index"`
	Name        string `json:"name"`
	UtilPercent int    `json:"utilization_percent"`
	MemUsedMiB  int    `json:"memory_used_mib"`
	MemTotalMiB int    `json:"memory_total_mib"`
}

// ParseResources reads a HeaderResources value, refusing one past the
// limits above.
func ParseResources(header string) (Resources, error) {
	var r Resources
	if len(header) > MaxResourcesHeader {
		return r, fmt.Errorf("resources report is %d bytes; at most %d", len(header), MaxResourcesHeader)
	}
	if err := json.Unmarshal([]byte(header), &r); err != nil {
		return r, fmt.Errorf("resources report: %w", err)
	}
	if r.CPUs < 0 || r.CPUs > 1<<16 || r.Load1 < 0 || r.Load1 > 1e6 || r.AgeMS < 0 ||
		r.MemAvailBytes > r.MemTotalBytes || r.DiskFreeBytes > r.DiskTotalBytes ||
		r.MemTotalBytes > maxBytes || r.DiskTotalBytes > maxBytes {
		return r, fmt.Errorf("resources report: a figure out of range")
	}
	if len(r.GPUError) > MaxGPUError || !plainText(r.GPUError) {
		return r, fmt.Errorf("resources report: gpu_error is too long or holds control characters")
	}
	if len(r.GPUs) > MaxGPUs {
		return r, fmt.Errorf("resources report names %d GPUs; at most %d", len(r.GPUs), MaxGPUs)
	}
	for _, g := range r.GPUs {
		if len(g.Name) > MaxGPUName || !plainText(g.Name) {
			return r, fmt.Errorf("resources report: GPU %d has a name that is too long or holds control characters", g.Index)
		}
		if g.Index < 0 || g.Index > 1024 || g.UtilPercent < 0 || g.UtilPercent > 100 || g.MemUsedMiB < 0 ||
			g.MemTotalMiB < 0 || g.MemTotalMiB > maxMiB || g.MemUsedMiB > g.MemTotalMiB {
			return r, fmt.Errorf("resources report: GPU %d has a figure out of range", g.Index)
		}
	}
	r.SampledAt = time.Time{} // the server's to set
	return r, nil
}

// Bounds of the figures: far above any machine, low enough that the UI's
// percentages cannot overflow.
const (
	maxBytes = 1 << 60
	maxMiB   = 1 << 30
)

// plainText: no Hidden characters, which could make a name read as
// another.
func plainText(s string) bool { return !strings.ContainsFunc(s, Hidden) }

// Hidden reports a control character or an invisible formatting one
// (bidi overrides, zero-width): what a report's text may not hold, and
// what the agent takes out of what it reports.
func Hidden(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || unicode.Is(unicode.Cf, r)
}

// CutText cuts s to at most max bytes, at a character boundary.
func CutText(s string, max int) string {
	for len(s) > max {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// GPUText is one GPU the way the UI and the CLI say it next to Rerun:
// "GPU 0: 97 % busy, 78/80 GB".
func (g GPU) GPUText() string {
	return fmt.Sprintf("GPU %d: %d %% busy, %s/%s GB", g.Index, g.UtilPercent, gib(g.MemUsedMiB), gib(g.MemTotalMiB))
}

// gib writes MiB as GiB: whole above 10, one decimal below.
func gib(mib int) string {
	g := float64(mib) / 1024
	if g >= 10 {
		return fmt.Sprintf("%.0f", g)
	}
	return fmt.Sprintf("%.1f", g)
}
