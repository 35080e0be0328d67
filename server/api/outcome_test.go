package api

import (
	"strings"
	"testing"
)

func TestOutcome(t *testing.T) {
	code := func(n int) *int { return &n }
	for _, c := range []struct {
		run     Run
		words   string
		verdict Verdict
	}{
		{Run{Status: RunQueued}, "queued", VerdictActive},
		{Run{Status: RunRunning}, "running", VerdictActive},
		{Run{Status: RunStopping, StoppedBy: "bob"}, "stopping", VerdictActive},
		{Run{Status: RunExited, ExitCode: code(0)}, "exited 0", VerdictOK},
		{Run{Status: RunExited, ExitCode: code(3)}, "failed: exit 3", VerdictFailed},
		{Run{Status: RunExited, ExitCode: code(-1)}, "failed: exit -1", VerdictFailed},
		{Run{Status: RunExited, Signal: "SIGKILL"}, "failed: killed by SIGKILL", VerdictFailed},
		{Run{Status: RunExited, ExitUnknown: true}, "ended, exit unknown", VerdictUnknown},
		{Run{Status: RunFailed, Error: "exec: not found"}, "failed to start", VerdictFailed},
		{Run{Status: RunStopped, Signal: "SIGTERM", StoppedBy: "bob"}, "stopped", VerdictStopped},
		{Run{Status: RunStopped, ExitCode: code(1)}, "stopped", VerdictStopped},
		{Run{Status: RunStopped, Signal: "SIGKILL", StopReason: StopReasonTimeout}, "failed: timed out", VerdictFailed},
		{Run{Status: RunCancelled}, "cancelled", VerdictFailed},
		{Run{Status: RunExpired}, "expired", VerdictFailed},
		{Run{Status: "paused"}, "paused", VerdictUnknown},
	} {
		words, verdict := c.run.Outcome()
		if words != c.words || verdict != c.verdict {
			t.Errorf("%+v: %q %s, want %q %s", c.run, words, verdict, c.words, c.verdict)
		}
	}
}

func TestShellTextPastesIntoSh(t *testing.T) {
	cases := []struct {
		in   CommandLine
		want string
	}{
		{CommandLine{Argv: []string{"python", "-m", "train", "--lr=3e-4"}}, "python -m train --lr=3e-4"},
		{CommandLine{Argv: []string{"sh", "-c", "echo $HOME"}}, "sh -c 'echo $HOME'"},
		{CommandLine{Argv: []string{"x", ""}}, "x ''"},
		{CommandLine{Argv: []string{"echo", "it's"}}, `echo 'it'\''s'`},
		{CommandLine{Argv: []string{"printf", "a\nb"}}, "printf 'a\nb'"},
		{CommandLine{Shell: "make train && echo done"}, "make train && echo done"},
	}
	for _, tc := range cases {
		if got := tc.in.ShellText(); got != tc.want {
			t.Errorf("ShellText(%+v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseResourcesRefusesWhatTheUICannotShow(t *testing.T) {
	ok := `{"cpus":8,"load1":1.5,"gpus":[{"index":0,"name":"NVIDIA A100-SXM4-80GB","utilization_percent":97,"memory_used_mib":79872,"memory_total_mib":81920}],"sampled_at":"2020-01-01T00:00:00Z"}`
	r, err := ParseResources(ok)
	if err != nil || len(r.GPUs) != 1 || !r.SampledAt.IsZero() {
		t.Fatalf("ParseResources(ok) = %+v, %v; want one GPU and no agent-set time", r, err)
	}
	if got := r.GPUs[0].GPUText(); got != "GPU 0: 97 % busy, 78/80 GB" {
		t.Errorf("GPUText = %q", got)
	}
	many := `{"gpus":[` + strings.TrimSuffix(strings.Repeat(`{"index":0,"name":"x"},`, MaxGPUs+1), ",") + `]}`
	for name, bad := range map[string]string{
		"not JSON":     `{"cpus":`,
		"too long":     `{"cpus":1,"pad":"` + strings.Repeat("x", MaxResourcesHeader) + `"}`,
		"too many":     many,
		"busy > 100 %": `{"gpus":[{"index":0,"name":"x","utilization_percent":101}]}`,
		"control":      `{"gpus":[{"index":0,"name":"x\u001b[2J"}]}`,
		"negative":     `{"load1":-1}`,
	} {
		if _, err := ParseResources(bad); err == nil {
			t.Errorf("ParseResources(%s) accepted it", name)
		}
	}
}

func TestWindowsEndingsInWindowsWords(t *testing.T) {
	for sig, want := range map[string]string{EndJobTerminated: "failed: job terminated", EndCtrlBreak: "failed: ended by CTRL_BREAK", "SIGKILL": "failed: killed by SIGKILL"} {
		if got, v := (Run{Status: RunExited, Signal: sig}).Outcome(); got != want || v != VerdictFailed {
			t.Errorf("a run ended by %s reads %q (%s), want %q", sig, got, v, want)
		}
	}
}
