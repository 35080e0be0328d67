package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"
)

// fleetReport is what one fleet run measured.
type fleetReport struct {
	cfg                 fleetConfig
	LoadStart, LoadEnd  string
	PollsHeld           int
	Window              time.Duration // reruns sent, plus their drain
	ServerCPU, SimCPU   time.Duration // over Window
	RSSBefore, RSSAfter int64         // kB: before the agents registered, at the end
	HWM, SimRSS         int64         // kB
	FDs                 int

	Heartbeat, Accepted, Dispatch durStats
	Sent, Lost                    int
	Twice, WrongAgent             int
	Errs, WarmErrs                map[string]int
	Example                       map[string]string
}

// take copies the bookkeeping into the report.
func (r *fleetReport) take(b *fleetBook) {
	lat, lost := b.dispatched()
	b.mu.Lock()
	defer b.mu.Unlock()
	r.Heartbeat, r.Accepted, r.Dispatch = summarize(b.heartbeats), summarize(b.accepted), summarize(lat)
	r.Sent, r.Lost, r.Twice, r.WrongAgent = b.sent, lost, b.twice, b.wrongAgent
	r.Errs, r.WarmErrs, r.Example = maps.Clone(b.errs), maps.Clone(b.warmErrs), maps.Clone(b.example)
}

// errors is every error while measuring, commands never delivered among
// them.
func (r *fleetReport) errors() int {
	n := r.Lost
	for _, c := range r.Errs {
		n += c
	}
	return n
}

// perAgentKiB is the server's memory growth from before the agents
// registered to the end, per agent.
func (r *fleetReport) perAgentKiB() float64 {
	return float64(r.RSSAfter-r.RSSBefore) / float64(r.cfg.Agents)
}

func (r *fleetReport) print(w io.Writer) *verdicts {
	cfg := r.cfg
	fmt.Fprintf(w, "fleet: %d agents × %d connection(s), %d user(s), %d replica(s), heartbeat every %s, poll wait %s; reruns %.0f/s for %s after %s warm-up\n",
		cfg.Agents, cfg.Conns, cfg.Users, cfg.Replicas, cfg.Heartbeat, cfg.PollWait, cfg.Rate, cfg.Duration, cfg.Warmup)
	from := "each from an address of its own (127.1.x.y)"
	if cfg.OneAddress {
		from = "all from 127.0.0.1"
	}
	fmt.Fprintf(w, "agents connect %s\n", from)
	fmt.Fprintf(w, "polls held by the server when the reruns began: %d of %d agents\n\n", r.PollsHeld, cfg.Agents)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "latency\tn\tp50\tp90\tp99\tmax\t")
	fmt.Fprintln(tw, r.Heartbeat.row("heartbeat"))
	fmt.Fprintln(tw, r.Accepted.row("rerun → 202"))
	fmt.Fprintln(tw, r.Dispatch.row("rerun → job at agent"))
	tw.Flush()

	fmt.Fprintf(w, "\nreruns: %d sent, %d answered 202, %d of those received by an agent, %d never (within --drain %s)\n",
		r.Sent, r.Accepted.N, r.Dispatch.N, r.Lost, cfg.Drain)
	fmt.Fprintf(w, "commands delivered twice: %d; to an agent on another host: %d\n", r.Twice, r.WrongAgent)
	printErrs(w, "errors while measuring", r.Errs, r.Example, phaseMeasure)
	printErrs(w, "errors during the warm-up (not in the verdict)", r.WarmErrs, r.Example, phaseWarmup)

	secs := r.Window.Seconds()
	fmt.Fprintf(w, "\nserver: RSS %s before the agents, %s at the end (peak %s): %.1f KiB per agent; CPU %.1fs in %.1fs = %.2f cores; %d open files\n",
		kbMiB(r.RSSBefore), kbMiB(r.RSSAfter), kbMiB(r.HWM), r.perAgentKiB(), r.ServerCPU.Seconds(), secs, r.ServerCPU.Seconds()/secs, r.FDs)
	fmt.Fprintf(w, "simulator (this process): CPU %.2f cores, RSS %s\n", r.SimCPU.Seconds()/secs, kbMiB(r.SimRSS))
	fmt.Fprintf(w, "load average at start: %s; at the end: %s\n\n", r.LoadStart, r.LoadEnd)

	var v verdicts
	t := cfg.Targets
	v.check("heartbeat p99", ms(r.Heartbeat.P99), ms(t.HeartbeatP99), r.Heartbeat.N > 0 && r.Heartbeat.P99 <= t.HeartbeatP99)
	v.check("rerun → job at agent p99", ms(r.Dispatch.P99), ms(t.DispatchP99), r.Dispatch.N > 0 && r.Dispatch.P99 <= t.DispatchP99)
	v.check("errors", fmt.Sprint(r.errors()), "0", r.errors() == 0)
	v.check("double deliveries", fmt.Sprint(r.Twice), "0", r.Twice == 0)
	v.check("deliveries to a wrong agent", fmt.Sprint(r.WrongAgent), "0", r.WrongAgent == 0)
	v.check("server memory per agent", fmt.Sprintf("%.1f KiB", r.perAgentKiB()), fmt.Sprintf("%.0f KiB", t.AgentKiB), r.perAgentKiB() <= t.AgentKiB)
	v.print(w)
	return &v
}

// printErrs prints counts by kind, most frequent first, with one message
// of each kind.
func printErrs(w io.Writer, title string, errs map[string]int, example map[string]string, phase int32) {
	if len(errs) == 0 {
		fmt.Fprintf(w, "%s: none\n", title)
		return
	}
	fmt.Fprintf(w, "%s:\n", title)
	keys := slices.Sorted(maps.Keys(errs))
	slices.SortStableFunc(keys, func(a, b string) int { return errs[b] - errs[a] })
	for _, k := range keys {
		fmt.Fprintf(w, "  %6d  %s  (e.g. %s)\n", errs[k], k, example[fmt.Sprint(phase, k)])
	}
}

// kbMiB prints a size in kB as MiB.
func kbMiB(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }
