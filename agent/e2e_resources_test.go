//go:build linux

// The resources report end to end: from the agent's host, through its
// polls and heartbeats, to what the server lists for the UI.

package agent_test

import (
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
)

func TestTheServerListsTheAgentsHostAndGPUs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	home := e.agentHome("")
	e.startAgent(home, "PATH="+testenv.FakeNvidiaSMI(t, testenv.NvidiaSMIA100x2)+":"+os.Getenv("PATH"))
	want := []api.GPU{
		{Index: 0, Name: "NVIDIA A100-SXM4-80GB", UtilPercent: 97, MemUsedMiB: 79872, MemTotalMiB: 81920},
		{Index: 1, Name: "NVIDIA A100-SXM4-80GB", UtilPercent: 0, MemUsedMiB: 4, MemTotalMiB: 81920},
	}
	var last *api.Resources
	e.WaitFor(20*time.Second, "the agent's resources on the server", func() bool {
		list, err := e.user.Agents(t.Context(), client.ListOptions{})
		if err != nil {
			return false
		}
		for _, a := range list.Agents {
			if a.ID == e.ids[home] {
				last = a.Resources
			}
		}
		return last != nil && len(last.GPUs) > 0
	})
	if !reflect.DeepEqual(last.GPUs, want) || last.CPUs <= 0 || last.MemTotalBytes == 0 || last.DiskTotalBytes == 0 {
		t.Fatalf("the server lists %+v, want the host's figures and GPUs %+v", *last, want)
	}
}

// The host page and the batch page, in a real browser, show what a real
// agent read from nvidia-smi: the GPUs' state next to Rerun as
// information (the button stays enabled).
func TestHostPageShowsTheAgentsGPUsInARealBrowser(t *testing.T) {
	t.Parallel()
	ctx := testenv.Browser(t)
	e := newEnv(t)
	home := e.agentHome("")
	e.startAgent(home, "PATH="+testenv.FakeNvidiaSMI(t, testenv.NvidiaSMIA100x2)+":"+os.Getenv("PATH"))
	batchID, _ := e.batch("sleep 1")
	e.WaitFor(20*time.Second, "the agent's GPUs on the server", func() bool {
		list, err := e.user.Agents(t.Context(), client.ListOptions{})
		return err == nil && len(list.Agents) == 1 && list.Agents[0].Resources != nil && len(list.Agents[0].Resources.GPUs) == 2
	})

	err := chromedp.Do(ctx,
		chromedp.Navigate(e.server.URL+"/login"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), e.token),
		chromedp.Click(chromedp.ID("signin")),
		testenv.TextHas("#hosts", "2 GPUs, 1 busy"),
		chromedp.Click(chromedp.CSS("#hosts a.host-link")),
		testenv.TextHas("#gpus", "NVIDIA A100-SXM4-80GB"),
		testenv.TextHas("#gpus", "97 %"),
		testenv.TextHas("#gpus", "79872 / 81920 MiB"),
		testenv.TextHas("#load", "CPUs"),
		testenv.TextHas("#host-facts", "linux/"),
	)
	if err != nil {
		t.Fatalf("host page with the agent's GPUs: %v", err)
	}
	testenv.SaveShot(t, ctx, "host.png")
	if bad, err := testenv.Unlabelled(ctx); err != nil || len(bad) > 0 {
		t.Fatalf("controls without a label on the host page (%v): %q", err, bad)
	}

	err = chromedp.Do(ctx,
		chromedp.Navigate(e.server.URL+"/ui/batches/"+batchID),
		testenv.TextHas("#rerun-gpus", "GPU 0: 97 % busy, 78/80 GB; GPU 1: 0 % busy, 0.0/80 GB"),
	)
	if err != nil {
		t.Fatalf("batch page with the GPUs next to Rerun: %v", err)
	}
	if disabled, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("rerun").disabled`)); err != nil || disabled {
		t.Fatalf("Rerun next to a busy GPU: disabled=%v (%v), want enabled", disabled, err)
	}
	testenv.SaveShot(t, ctx, "batch-gpus.png")
}
