package main

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// durStats summarises a sample of durations.
type durStats struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

// summarize sorts a copy of ds and takes nearest-rank quantiles, the same
// definition as the heartbeat benchmark's.
func summarize(ds []time.Duration) durStats {
	if len(ds) == 0 {
		return durStats{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return durStats{N: len(s), P50: quantile(s, 0.50), P90: quantile(s, 0.90), P99: quantile(s, 0.99), Max: s[len(s)-1]}
}

// row is the stats as one tab-separated table row.
func (d durStats) row(name string) string {
	return fmt.Sprintf("%s\t%d\t%s\t%s\t%s\t%s\t", name, d.N, ms(d.P50), ms(d.P90), ms(d.P99), ms(d.Max))
}

// verdicts collects target checks so a benchmark prints them together and
// knows whether to fail under --strict.
type verdicts struct {
	lines  []string
	failed []string
}

// check records "what = got (target <= limit): PASS|FAIL".
func (v *verdicts) check(what, got, limit string, pass bool) {
	word := "PASS"
	if !pass {
		word = "FAIL"
		v.failed = append(v.failed, what)
	}
	v.lines = append(v.lines, fmt.Sprintf("%s = %s (target <= %s): %s", what, got, limit, word))
}

// atLeast records "what = got (target >= limit): PASS|FAIL".
func (v *verdicts) atLeast(what, got, limit string, pass bool) {
	v.check(what, got, limit, pass)
	v.lines[len(v.lines)-1] = strings.Replace(v.lines[len(v.lines)-1], "(target <= ", "(target >= ", 1)
}

func (v *verdicts) print(w io.Writer) {
	for _, l := range v.lines {
		fmt.Fprintln(w, l)
	}
}

// err is the --strict failure, or nil when every target was met.
func (v *verdicts) err() error {
	if len(v.failed) == 0 {
		return nil
	}
	return fmt.Errorf("missed the target: %s", strings.Join(v.failed, ", "))
}

// bucket is one cumulative histogram bucket: how many observations were
// at most LE seconds.
type bucket struct {
	LE    float64
	Count float64
}

// histDelta is what a histogram (name, with the one label pair given as
// `kind="rerun"`) gained between two scrapes: its cumulative buckets in
// ascending order, and the count and sum of the new observations.
func histDelta(before, after map[string]float64, name, label string) (bs []bucket, count, sum float64) {
	prefix := name + "_bucket{" + label + ",le=\""
	for k, v := range after {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(rest, "\"}"), 64)
		if err != nil {
			continue
		}
		bs = append(bs, bucket{LE: le, Count: v - before[k]})
	}
	slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(a.LE, b.LE) })
	key := "{" + label + "}"
	return bs, after[name+"_count"+key] - before[name+"_count"+key], after[name+"_sum"+key] - before[name+"_sum"+key]
}

// bucketQuantile is the upper bound of the bucket holding the q-quantile:
// all a histogram can say, "at most this".
func bucketQuantile(bs []bucket, count, q float64) string {
	rank := math.Ceil(q * count)
	for _, b := range bs {
		if b.Count >= rank {
			if math.IsInf(b.LE, 1) {
				return "+Inf"
			}
			return "<= " + ms(time.Duration(b.LE*float64(time.Second)))
		}
	}
	return "n/a"
}
