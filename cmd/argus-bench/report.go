package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// machine is what a figure depends on besides the code: a throughput
// number means little without the hardware it was taken on.
type machine struct {
	OS, Arch  string
	CPUs      int
	CPUModel  string
	MemTotal  string
	GoVersion string
}

func readMachine() machine {
	return machine{
		OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(),
		CPUModel:  procField("/proc/cpuinfo", "model name"),
		MemTotal:  procField("/proc/meminfo", "MemTotal"),
		GoVersion: runtime.Version(),
	}
}

// procField is the value of the first "key: value" line of a /proc file,
// or "unknown" where there is no such file (macOS, Windows).
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func (m machine) print(w io.Writer) {
	fmt.Fprintf(w, "machine: %s/%s, %d CPUs, %s, memory %s, %s\n",
		m.OS, m.Arch, m.CPUs, m.CPUModel, m.MemTotal, m.GoVersion)
}

// comparison is rounds of the same load against a baseline and a subject,
// and the bar the subject's share of the baseline's throughput must clear.
type comparison struct {
	Baseline, Subject string
	Rounds            [][]loadResult // per round, in the order they ran
	Target            float64
}

// byTarget is every round's result for one target.
func (c comparison) byTarget(name string) []loadResult {
	var out []loadResult
	for _, round := range c.Rounds {
		for _, r := range round {
			if r.Target == name {
				out = append(out, r)
			}
		}
	}
	return out
}

// Ratio is the subject's median throughput over the baseline's. Medians,
// so one round disturbed by something else on the machine cannot move it.
func (c comparison) Ratio() float64 {
	base := median(c.byTarget(c.Baseline), loadResult.RPS)
	if base == 0 {
		return 0
	}
	return median(c.byTarget(c.Subject), loadResult.RPS) / base
}

// Pass reports whether the ratio clears the target.
func (c comparison) Pass() bool { return c.Ratio() >= c.Target }

func (c comparison) print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\ttarget\trequests\treq/s\tp50\tp99\t")
	for i, round := range c.Rounds {
		for _, r := range round {
			fmt.Fprintf(tw, "%d\t%s\t%d\t%.0f\t%s\t%s\t\n", i+1, r.Target, r.Requests, r.RPS(), ms(r.P50), ms(r.P99))
		}
	}
	for _, name := range []string{c.Baseline, c.Subject} {
		rs := c.byTarget(name)
		p50 := median(rs, func(r loadResult) float64 { return float64(r.P50) })
		p99 := median(rs, func(r loadResult) float64 { return float64(r.P99) })
		fmt.Fprintf(tw, "median\t%s\t\t%.0f\t%s\t%s\t\n", name, median(rs, loadResult.RPS),
			ms(time.Duration(p50)), ms(time.Duration(p99)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	verdict := "PASS"
	if !c.Pass() {
		verdict = "FAIL"
	}
	_, err := fmt.Fprintf(w, "\nratio %s/%s = %.3f (target >= %.2f): %s\n",
		c.Subject, c.Baseline, c.Ratio(), c.Target, verdict)
	return err
}

// median of f over rs; the mean of the middle two for an even count.
func median(rs []loadResult, f func(loadResult) float64) float64 {
	if len(rs) == 0 {
		return 0
	}
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// ms prints a latency in milliseconds with enough digits for loopback.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond))
}
