// The resources sampler: what the host has free (load, memory, the disk of
// the agent's home, GPUs), sampled in the background so that the client
// can put the latest report on each poll and heartbeat without waiting
// (client.Options.Resources). The GPU query and its parsing are gpus.go.

package agent

import (
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"

	"github.com/argus-exec/argus/server/api"
)

// sampler keeps the host's latest resources report.
type sampler struct {
	home   string // whose disk is reported: runs' logs and state fill it
	log    zerolog.Logger
	latest atomic.Pointer[sample]
	// gpus queries the host's GPUs; queryGPUs but in tests.
	gpus func(context.Context) ([]api.GPU, error)
	// failed is the last error text logged per figure, so a figure that
	// keeps failing is logged once rather than every sample. Only the
	// sampling goroutine touches it.
	failed map[string]string
}

func newSampler(home string, log zerolog.Logger) *sampler {
	return &sampler{home: home, log: log, gpus: queryGPUs, failed: map[string]string{}}
}

// sample is one reading of the host and when it was taken.
type sample struct {
	r  api.Resources
	at time.Time
}

// report is the latest sample as compact JSON with its age, "" before the
// first one. It never waits: the client asks for it on every poll.
func (s *sampler) report() string {
	p := s.latest.Load()
	if p == nil {
		return ""
	}
	r := p.r // already fitted to the header when sampled
	r.AgeMS = max(time.Since(p.at).Milliseconds(), 0)
	if b, err := json.Marshal(r); err == nil && len(b) <= api.MaxResourcesHeader {
		return string(b)
	}
	out, err := encodeResources(r) // the age's digits tipped it over: one GPU fewer
	if err != nil {
		return ""
	}
	return out
}

// run samples at once, so that the agent's first polls can carry a report,
// and then every api.ResourcesEvery until ctx ends.
func (s *sampler) run(ctx context.Context) {
	tick := time.NewTicker(api.ResourcesEvery)
	defer tick.Stop()
	for {
		s.sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sample takes one sample and makes it the latest report. A figure that
// cannot be read stays zero: a partial report still tells the UI more
// than none.
func (s *sampler) sample(ctx context.Context) {
	at := time.Now()
	r := api.Resources{CPUs: runtime.NumCPU()}
	s.hostFigures(ctx, &r)
	gpus, err := s.gpus(ctx)
	if ctx.Err() != nil {
		return // stopping: a query cut short is no news about the GPUs
	}
	s.note("gpus", "cannot list the GPUs with nvidia-smi; reporting none", err)
	r.GPUs = gpus
	if err != nil {
		r.GPUError = gpuErrorText(err)
	}
	fitted, _, err := fitResources(r)
	s.note("report", "cannot encode the resources report", err)
	if err == nil {
		s.latest.Store(&sample{r: fitted, at: at})
	}
}

// gpuErrorText is why the GPUs could not be read, as the report carries
// it: one line, printable, at most api.MaxGPUError bytes.
func gpuErrorText(err error) string {
	text := strings.Map(func(r rune) rune {
		if api.Hidden(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(err.Error(), "?"))
	return api.CutText(text, api.MaxGPUError)
}

// hostFigures fills in load, memory and disk.
func (s *sampler) hostFigures(ctx context.Context, r *api.Resources) {
	// gopsutil's load on Windows is an estimate from a goroutine it starts
	// on the first call and binds to that call's context; Windows has no
	// load average, so none is reported there.
	if runtime.GOOS != "windows" {
		avg, err := load.AvgWithContext(ctx)
		s.note("load", "cannot read the load average", err)
		if err == nil {
			r.Load1 = avg.Load1
		}
	}
	vm, err := mem.VirtualMemoryWithContext(ctx)
	s.note("memory", "cannot read memory use", err)
	if err == nil {
		r.MemTotalBytes, r.MemAvailBytes = vm.Total, vm.Available
	}
	du, err := disk.UsageWithContext(ctx, s.home)
	s.note("disk", "cannot read the free space of the agent's home", err)
	if err == nil {
		r.DiskFreeBytes, r.DiskTotalBytes = du.Free, du.Total
	}
}

// note logs err at warn when its text differs from the last one logged
// for figure, and that it works again once it does.
func (s *sampler) note(figure, msg string, err error) {
	last, failing := s.failed[figure]
	switch {
	case err == nil && failing:
		delete(s.failed, figure)
		s.log.Info().Str("figure", figure).Msg("resources: reading " + figure + " works again")
	case err != nil && err.Error() != last:
		s.failed[figure] = err.Error()
		s.log.Warn().Err(err).Str("figure", figure).Msg(msg)
	}
}

// encodeResources is r as compact JSON within api.MaxResourcesHeader,
// dropping GPUs from the end until it fits: the server ignores a longer
// report whole, and the first GPUs and the host figures are worth more
// than none.
func encodeResources(r api.Resources) (string, error) {
	_, out, err := fitResources(r)
	return out, err
}

// fitResources is r with the GPUs that fit, and its encoding.
func fitResources(r api.Resources) (api.Resources, string, error) {
	for {
		b, err := json.Marshal(r)
		if err != nil {
			return r, "", err
		}
		if len(b) <= api.MaxResourcesHeader || len(r.GPUs) == 0 {
			return r, string(b), nil
		}
		r.GPUs = r.GPUs[:len(r.GPUs)-1]
	}
}
