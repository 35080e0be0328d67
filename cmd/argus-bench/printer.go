package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"
)

// The runs `argus-bench logs` has the agent start: this binary again,
// under hidden commands, so what a run prints and when is exact (a shell
// loop would add a fork per line and jitter of its own).

// printLinesCommand prints "<seq> <unix nanos>\n" every --every: the
// moment each line was written travels with it.
func printLinesCommand() *cli.Command {
	return &cli.Command{
		Name: "print-lines", Hidden: true,
		Usage: "print a numbered, timestamped line every --every, --count times (a run for argus-bench logs)",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "every", Value: 10 * time.Millisecond},
			&cli.IntFlag{Name: "count", Value: 1000},
		},
		Action: func(c *cli.Context) error {
			tick := time.NewTicker(c.Duration("every"))
			defer tick.Stop()
			for i := range c.Int("count") {
				// One write per line, unbuffered: the line is in the log
				// file at the time it carries.
				if _, err := fmt.Fprintf(os.Stdout, "%d %d\n", i, time.Now().UnixNano()); err != nil {
					return err
				}
				select {
				case <-c.Context.Done():
					return c.Context.Err()
				case <-tick.C:
				}
			}
			return nil
		},
	}
}

// writeReport is what write-output leaves in its --report file.
type writeReport struct {
	Bytes   int64         `json:"bytes"`
	Elapsed time.Duration `json:"elapsed"`
	// Behind is how far the writes fell behind their schedule at the end:
	// what anything slowing the writer cost it.
	Behind time.Duration `json:"behind"`
}

// MBps is the achieved rate in MB/s (10^6 bytes).
func (r writeReport) MBps() float64 { return float64(r.Bytes) / 1e6 / r.Elapsed.Seconds() }

// writeOutputCommand writes --rate bytes per second to stdout for --for,
// in 64 KiB blocks on a schedule, and reports what it achieved.
func writeOutputCommand() *cli.Command {
	return &cli.Command{
		Name: "write-output", Hidden: true,
		Usage: "write --rate bytes/s of text to stdout for --for and report the rate achieved (a run for argus-bench logs)",
		Flags: []cli.Flag{
			&cli.Float64Flag{Name: "rate", Value: 50e6, Usage: "bytes per second"},
			&cli.DurationFlag{Name: "for", Value: 10 * time.Second},
			&cli.StringFlag{Name: "report", Required: true, Usage: "JSON file to write the achieved figures to"},
		},
		Action: func(c *cli.Context) error {
			rep, err := writePaced(os.Stdout, c.Float64("rate"), c.Duration("for"))
			if err != nil {
				return err
			}
			data, err := json.Marshal(rep)
			if err != nil {
				return err
			}
			return os.WriteFile(c.String("report"), data, 0o600)
		},
	}
}

// writePaced writes blocks so that by time t, rate*t bytes are out, and
// never sleeps when behind: a writer slowed by anything else falls behind
// and reports it.
func writePaced(out *os.File, rate float64, total time.Duration) (writeReport, error) {
	if rate <= 0 || total <= 0 {
		return writeReport{}, errors.New("--rate and --for must be positive")
	}
	block := make([]byte, 64<<10)
	for i := range block {
		block[i] = 'a' + byte(i%26)
		if i%100 == 99 {
			block[i] = '\n'
		}
	}
	start := time.Now()
	var written int64
	for target := int64(rate * total.Seconds()); written < target; {
		n, err := out.Write(block[:min(int64(len(block)), target-written)])
		written += int64(n)
		if err != nil {
			return writeReport{}, err
		}
		due := start.Add(time.Duration(float64(written) / rate * float64(time.Second)))
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
	}
	elapsed := time.Since(start)
	return writeReport{Bytes: written, Elapsed: elapsed, Behind: max(elapsed-total, 0)}, nil
}
