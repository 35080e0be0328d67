package server_test

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
)

// signIn types the token into the sign-in form, as a person would.
func signIn(h *harness, tok string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		return chromedp.Do(ctx,
			chromedp.Navigate(h.url+"/login"),
			chromedp.WaitVisible(chromedp.ID("token")),
			chromedp.SendKeys(chromedp.ID("token"), tok),
			chromedp.Click(chromedp.ID("signin")),
			chromedp.WaitVisible(chromedp.ID("filter")),
		)
	})
}

// logHas is true once the run page's output contains s.
func logHas(s string) string {
	return `document.getElementById("log").textContent.includes(` + strconv.Quote(s) + `)`
}

// TestRunPageInARealBrowser: the run page follows a running run's output
// as the agent appends it, without reloading, keeping the place of a
// reader who scrolled up and following the end for one at the bottom;
// output that looks like markup stays text, a character split across two
// appends comes out whole, the elapsed time ticks, and the run's end
// shows in place, and so does a stop asked from the page. Then, where the server's --log-max cap dropped part of
// another run's output, its page says how many bytes, between the kept
// head and the newest part.
func TestRunPageInARealBrowser(t *testing.T) {
	t.Parallel()
	ctx := testenv.Browser(t)
	h := newHarness(t, server.Config{LogMax: api.MinLogMax})
	alice, id, agentID, agentTok := h.aliceOnline()
	q := h.started(alice, id, agentID, agentTok, 4242)
	// Both runs start now: the agent's heartbeat would be stale by the
	// time the first part is done.
	capped := h.started(alice, id, agentID, agentTok, 7)
	var out strings.Builder
	for i := range 200 {
		fmt.Fprintf(&out, "epoch %03d loss 0.%03d\n", i, 999-i)
	}
	next := int64(out.Len())
	h.expect200(h.appendLog(agentID, agentTok, q.RunID, 0, []byte(out.String()), ""))
	appendLine := func(s string) {
		t.Helper()
		h.expect200(h.appendLog(agentID, agentTok, q.RunID, next, []byte(s), ""))
		next += int64(len(s))
	}

	err := chromedp.Do(ctx,
		signIn(h, alice),
		chromedp.Navigate(h.url+"/ui/batches/"+id),
		chromedp.Click(chromedp.CSS(`#run-`+q.RunID+` a[href="/ui/runs/`+q.RunID+`"]`)),
		chromedp.WaitVisible(chromedp.ID("log")),
		testenv.JSTrue(logHas("epoch 199 loss 0.800"), "the output so far"),
		// A marker that a reload would wipe out.
		testenv.JSTrue(`(window.argusMarker = 42) === 42`, "set the marker"),
		// At the bottom at first: the page follows the end.
		testenv.JSTrue(`(l => l.scrollHeight > l.clientHeight + 100 && l.scrollTop + l.clientHeight >= l.scrollHeight - 8)(document.getElementById("log"))`, "opened at the end"),
	)
	if err != nil {
		t.Fatalf("open the run page: %v", err)
	}
	startElapsed, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("elapsed")))
	if err != nil {
		t.Fatal(err)
	}

	// A reader scrolled up keeps their place while output arrives.
	if err := chromedp.Do(ctx, testenv.JSTrue(`(document.getElementById("log").scrollTop = 40) === 40`, "scroll up")); err != nil {
		t.Fatal(err)
	}
	appendLine("epoch 200 <script>window.pwned = 1</script> <b>bold</b>\n")
	err = chromedp.Do(ctx,
		testenv.JSTrue(logHas("epoch 200 <script>window.pwned = 1</script> <b>bold</b>"), "a line appended while the page is open"),
		testenv.JSTrue(`window.argusMarker === 42`, "no reload"),
		testenv.JSTrue(`document.getElementById("log").scrollTop === 40`, "the scrolled-up reader keeps their place"),
		testenv.JSTrue(`document.querySelectorAll("#log *").length === 0 && window.pwned === undefined`, "output stays text"),
	)
	if err != nil {
		t.Fatalf("append while scrolled up: %v", err)
	}

	// A reader at the bottom follows the end; a character split across
	// two appends comes out whole.
	if err := chromedp.Do(ctx, testenv.JSTrue(`(l => (l.scrollTop = l.scrollHeight, true))(document.getElementById("log"))`, "scroll to the end")); err != nil {
		t.Fatal(err)
	}
	appendLine("epoch 201 caf\xc3")
	if err := chromedp.Do(ctx, testenv.JSTrue(logHas("epoch 201 caf"), "the first half")); err != nil {
		t.Fatal(err)
	}
	appendLine("\xa9 done\n")
	err = chromedp.Do(ctx,
		testenv.JSTrue(logHas("epoch 201 café done\n"), "the character split across appends"),
		testenv.JSTrue(`(l => l.scrollTop + l.clientHeight >= l.scrollHeight - 8)(document.getElementById("log"))`, "the reader at the end follows it"),
		testenv.JSTrue(`window.argusMarker === 42`, "no reload"),
		testenv.JSTrue(`document.getElementById("elapsed").textContent !== `+strconv.Quote(startElapsed), "the elapsed time ticks"),
	)
	if err != nil {
		t.Fatalf("append at the bottom: %v", err)
	}
	testenv.SaveShot(t, ctx, "run-running.png")

	// Stop it from its page with a reason: back on the run page, which
	// names who stopped it and why.
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#run-status input[name="reason"]`), "GPU needed"),
		chromedp.Click(chromedp.ID("stop")),
		testenv.TextHas("#flash", "stop queued for "+q.RunID),
		testenv.TextHas("#status", "stopping"),
		testenv.TextHas("#stopped-by", "alice"),
		testenv.TextHas("#stop-reason", "GPU needed"),
		testenv.JSTrue(logHas("epoch 201 café done"), "the output again after the form's redirect"),
		testenv.JSTrue(`(window.argusMarker = 43) === 43`, "set the marker again"),
	)
	if err != nil {
		t.Fatalf("stop from the run page: %v", err)
	}
	cmds := h.jobs(agentID, agentTok)
	if len(cmds) != 1 || cmds[0].Stop == nil || cmds[0].Stop.Reason != "GPU needed" {
		t.Fatalf("jobs after Stop = %+v", cmds)
	}
	h.expect(200, "POST", "/api/agents/"+agentID+"/jobs/"+cmds[0].ID+"/ack", agentTok, api.AckRequest{Outcome: api.StopTerminated})

	// The run ends: the status section changes in place.
	appendLine("caught SIGTERM, saving checkpoint\n")
	h.ended(agentID, agentTok, q, 0, "SIGTERM")
	err = chromedp.Do(ctx,
		testenv.TextHas("#status", "stopped"),
		testenv.TextHas("#exit-reason", "killed by signal SIGTERM"),
		testenv.JSTrue(logHas("caught SIGTERM, saving checkpoint"), "the last line"),
		testenv.JSTrue(`window.argusMarker === 43`, "no reload at the end"),
		testenv.JSTrue(`document.querySelector("#status.verdict-stopped") !== null && !document.getElementById("stop")`, "stopped colours, no Stop"),
		testenv.JSTrue(`document.getElementById("log-state").textContent === ""`, "no longer following"),
	)
	if err != nil {
		t.Fatalf("the run's end: %v", err)
	}
	testenv.SaveShot(t, ctx, "run-ended.png")
	cappedRun(t, ctx, h, alice, capped.RunID, agentID, agentTok)
}

// cappedRun is the dropped-output part of TestRunPageInARealBrowser: a
// second browser would cost more than the check.
func cappedRun(t *testing.T, ctx context.Context, h *harness, alice, runID, agentID, agentTok string) {
	q := api.Queued{RunID: runID}
	var sent int64
	var last string
	for i := 0; sent < api.MinLogMax+api.MaxLogChunk/2; i++ {
		last = fmt.Sprintf("line %06d\n", i)
		chunk := bytes.Repeat([]byte(last), api.MaxLogChunk/len(last))
		h.expect200(h.appendLog(agentID, agentTok, q.RunID, sent, chunk, ""))
		sent += int64(len(chunk))
	}
	h.ended(agentID, agentTok, q, 3, "")
	head := h.readLog(q.RunID, alice, "")
	rest := h.readLog(q.RunID, alice, "?offset="+strconv.FormatInt(head.next, 10))
	if rest.offset <= head.next {
		t.Fatalf("the cap dropped nothing: head ends at %d, the rest starts at %d", head.next, rest.offset)
	}
	// Two MiB of text take a slow machine's browser a while to lay out.
	err := chromedp.Do(ctx,
		chromedp.Navigate(h.url+"/ui/runs/"+q.RunID),
		testenv.JSTrue(`(g => !!g && g.textContent.includes(`+strconv.Quote(fmt.Sprintf("… %d bytes dropped …", rest.offset-head.next))+`))(document.querySelector("#log .gap"))`, "the gap's note"),
		testenv.JSTrue(`document.getElementById("log").lastChild.textContent.endsWith(`+strconv.Quote(last)+`)`, "the newest output"),
		testenv.JSTrue(`document.getElementById("log-state").textContent === ""`, "no longer following"),
		testenv.TextHas("#status.verdict-failed", "failed: exit 3"),
		testenv.TextHas("#exit-reason", "exit code 3"),
	)
	if err != nil {
		t.Fatalf("open the run page of a capped log: %v", err)
	}
}
