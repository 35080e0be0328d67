package server_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
)

func TestUIInARealBrowser(t *testing.T) {
	t.Parallel()
	ctx := testenv.Browser(t)
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	id := h.batch(alice, "mnist", "gpu-01")
	offline := h.batch(alice, "mnist", "gpu-02") // no agent there at all
	agentID, agentTok := h.agent(alice, "gpu-01", "", true)

	// Sign in by typing the token, as a person would.
	err := chromedp.Do(ctx,
		chromedp.Navigate(h.url+"/login"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), alice),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("hosts")),
		testenv.TextHas("#hosts", "gpu-01"),
		testenv.TextHas("#hosts .badge.online", "online"),
		testenv.TextHas("#batches", "python train.py --lr 0.1"),
	)
	if err != nil {
		t.Fatalf("sign in and see hosts: %v", err)
	}
	testenv.SaveShot(t, ctx, "home.png")

	// One batch a page: the newest first, then "Older batches →" to the other.
	err = chromedp.Do(ctx,
		chromedp.Navigate(h.url+"/?limit=1"),
		testenv.TextHas("#batches", "gpu-02"),
		chromedp.Click(chromedp.ID("older-batches")),
		testenv.TextHas("#batches", "gpu-01"),
		chromedp.WaitVisible(chromedp.ID("newest")),
	)
	if err != nil {
		t.Fatalf("page through the batches: %v", err)
	}
	if older, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("batches"))); err != nil || strings.Contains(older, "gpu-02") {
		t.Fatalf("the older page still shows the newest batch (err=%v):\n%s", err, older)
	}
	testenv.SaveShot(t, ctx, "home-older.png")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("newest")), testenv.TextHas("#batches", "gpu-02")); err != nil {
		t.Fatalf("back to the newest: %v", err)
	}

	// Open the batch and press Rerun.
	err = chromedp.Do(ctx,
		chromedp.Navigate(h.url+"/"),
		chromedp.WaitVisible(chromedp.ID("batches")),
		chromedp.Click(chromedp.CSS(`#batches a[href="/ui/batches/`+id+`"]`)),
		chromedp.WaitVisible(chromedp.ID("rerun")),
		testenv.TextHas("dl.facts", "/srv/exp"),
	)
	if err != nil {
		t.Fatalf("open batch: %v", err)
	}
	if dis, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("rerun"), "disabled")); err != nil || dis.Exists {
		t.Fatalf("Rerun with an online agent: err=%v disabled=%v", err, dis.Exists)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("rerun")), testenv.TextHas("#flash", "rerun queued as run_")); err != nil {
		t.Fatalf("click Rerun: %v", err)
	}

	// Play the agent: take the command and ack it with a PID.
	cmds := h.jobs(agentID, agentTok)
	if len(cmds) != 1 || cmds[0].Kind != api.KindRerun {
		t.Fatalf("jobs after Rerun = %+v", cmds)
	}
	runID := cmds[0].RunID
	h.expect(200, "POST", "/api/agents/"+agentID+"/jobs/"+cmds[0].ID+"/ack", agentTok, api.AckRequest{PID: 31337})

	err = chromedp.Do(ctx,
		chromedp.Navigate(h.url+"/ui/batches/"+id),
		testenv.TextHas("#run-"+runID+" .status", "running"),
		testenv.TextHas("#run-"+runID+" .pid", "31337"),
	)
	if err != nil {
		t.Fatalf("see the run running: %v", err)
	}
	testenv.SaveShot(t, ctx, "batch-running.png")

	// Stop it with a reason; the stop command reaches the agent with the
	// PID and the reason, and once it has ended the row says who and why.
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#run-"+runID+` input[name="reason"]`), "GPU needed"),
		chromedp.Click(chromedp.CSS("#run-"+runID+" button.stop")),
		testenv.TextHas("#flash", "stop queued for "+runID),
		testenv.TextHas("#run-"+runID+" .status", "stopping"),
	)
	if err != nil {
		t.Fatalf("click Stop: %v", err)
	}
	cmds = h.jobs(agentID, agentTok)
	if len(cmds) != 1 || cmds[0].Kind != api.KindStop || cmds[0].RunID != runID || cmds[0].Stop.PID != 31337 ||
		cmds[0].Stop.StoppedBy != "alice" || cmds[0].Stop.Reason != "GPU needed" {
		t.Fatalf("jobs after Stop = %+v", cmds)
	}
	h.expect(200, "POST", "/api/agents/"+agentID+"/jobs/"+cmds[0].ID+"/ack", agentTok, api.AckRequest{Outcome: api.StopTerminated})
	h.ended(agentID, agentTok, api.Queued{RunID: runID}, 0, "SIGTERM")
	failed := h.started(alice, id, agentID, agentTok, 31338)
	h.ended(agentID, agentTok, failed, 3, "")
	err = chromedp.Do(ctx,
		chromedp.Navigate(h.url+"/ui/batches/"+id),
		testenv.TextHas("#run-"+runID+" .stopped-by", "stopped by alice — GPU needed"),
		testenv.TextHas("#run-"+runID+" .status.verdict-stopped", "stopped"),
		testenv.TextHas("#run-"+failed.RunID+" .status.verdict-failed", "failed: exit 3"),
	)
	if err != nil {
		t.Fatalf("see the stopped and the failed run: %v", err)
	}
	// The failure badge is red, not merely worded: the stylesheet applied.
	colour, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("#run-`+failed.RunID+` .status")).color`))
	if err != nil || colour != "rgb(180, 35, 24)" {
		t.Fatalf("failure badge colour = %q (%v), want rgb(180, 35, 24)", colour, err)
	}
	testenv.SaveShot(t, ctx, "batch-outcomes.png")

	// No agent on the origin host: Rerun is greyed out and says why.
	if err := chromedp.Do(ctx, chromedp.Navigate(h.url+"/ui/batches/"+offline), chromedp.WaitVisible(chromedp.ID("rerun-off"))); err != nil {
		t.Fatalf("open the offline batch: %v", err)
	}
	dis, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("rerun"), "disabled"))
	if err != nil || !dis.Exists {
		t.Fatalf("Rerun with no agent online: err=%v disabled=%v", err, dis.Exists)
	}
	why, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("rerun-off")))
	if err != nil || !strings.Contains(why, "no agent of yours is online on gpu-02") {
		t.Fatalf("reason: err=%v %q", err, why)
	}
	testenv.SaveShot(t, ctx, "batch-offline.png")
}
