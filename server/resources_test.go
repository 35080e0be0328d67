package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
)

// A report rides on a poll or a heartbeat, is written behind, and shows in
// the agents list with the server's arrival time; a bad one is dropped
// without failing the poll, and leaves the last good one in place.
func TestResourcesReportedOnPollsShowInTheAgentsList(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	agentID, agentTok := h.agent(alice, "gpu-01", "", true)
	quiet, _ := h.agent(alice, "cpu-01", "", true)

	report := `{"cpus":64,"load1":12.5,"mem_total_bytes":1099511627776,"mem_available_bytes":549755813888,` +
		`"disk_free_bytes":1000,"disk_total_bytes":2000,` +
		`"gpus":[{"index":0,"name":"NVIDIA A100-SXM4-80GB","utilization_percent":97,"memory_used_mib":79872,"memory_total_mib":81920}]}`
	pollAs := func(agentID, agentTok, header string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, h.url+"/api/agents/"+agentID+"/jobs", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+agentTok)
		req.Header.Set(api.HeaderResources, header)
		if r := h.send(req); r.code != http.StatusOK {
			t.Fatalf("poll with a resources report (%.20s…): %d %s", header, r.code, r.body)
		}
	}
	poll := func(header string) { t.Helper(); pollAs(agentID, agentTok, header) }
	agents := func() map[string]api.Agent {
		t.Helper()
		if err := h.srv.FlushResources(context.Background()); err != nil {
			t.Fatal(err)
		}
		var l api.AgentList
		if err := json.Unmarshal(h.expect(http.StatusOK, "GET", "/api/agents", alice, nil).body, &l); err != nil {
			t.Fatal(err)
		}
		out := map[string]api.Agent{}
		for _, a := range l.Agents {
			out[a.ID] = a
		}
		return out
	}

	poll(report)
	got := agents()
	res := got[agentID].Resources
	if res == nil || res.CPUs != 64 || len(res.GPUs) != 1 || res.GPUs[0].UtilPercent != 97 || res.SampledAt.IsZero() {
		t.Fatalf("resources of the reporting agent = %+v, want the report with the server's time", res)
	}
	if got[quiet].Resources != nil {
		t.Fatalf("an agent that never reported shows %+v", got[quiet].Resources)
	}

	poll(`{"gpus":[{"index":0,"name":"x","utilization_percent":900}]}`)
	poll(strings.Repeat("x", api.MaxResourcesHeader+1))
	if res := agents()[agentID].Resources; res == nil || res.GPUs[0].UtilPercent != 97 {
		t.Fatalf("after bad reports the agent shows %+v, want the last good report kept", res)
	}

	// A sample an hour old (its sampler stuck) is dated an hour back, not
	// when it arrived (and an older sample never replaces a newer one, as
	// above); a host whose nvidia-smi fails says so.
	stuck, stuckTok := h.agent(alice, "gpu-03", "", true)
	sent := time.Now()
	pollAs(stuck, stuckTok, `{"cpus":64,"age_ms":3600000,"gpu_error":"nvidia-smi: no answer within 5s"}`)
	res = agents()[stuck].Resources
	if res == nil || res.SampledAt.After(sent.Add(-59*time.Minute)) || res.GPUError == "" {
		t.Fatalf("an hour-old report = %+v, want it dated an hour back with its GPU error", res)
	}
}

// The host page shows the report in words, GPU by GPU, to the agent's
// owner only; an agent that never reported says so.
func TestHostPageShowsResourcesToItsOwnerOnly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice, bob := h.user("alice"), h.user("bob")
	agentID, agentTok := h.agent(alice, "gpu-01", "", true)
	silent, _ := h.agent(alice, "cpu-01", "", true)
	req, err := http.NewRequest(http.MethodPost, h.url+"/api/agents/"+agentID+"/heartbeat", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+agentTok)
	req.Header.Set(api.HeaderResources, `{"cpus":64,"load1":12.5,"mem_total_bytes":1099511627776,"mem_available_bytes":549755813888,`+
		`"disk_free_bytes":1099511627776,"disk_total_bytes":2199023255552,"gpus":[`+
		`{"index":0,"name":"NVIDIA A100-SXM4-80GB","utilization_percent":97,"memory_used_mib":79872,"memory_total_mib":81920},`+
		`{"index":1,"name":"NVIDIA A100-SXM4-80GB","utilization_percent":0,"memory_used_mib":4,"memory_total_mib":81920}]}`)
	if r := h.send(req); r.code != http.StatusNoContent {
		t.Fatalf("heartbeat with a report: %d %s", r.code, r.body)
	}
	if err := h.srv.FlushResources(context.Background()); err != nil {
		t.Fatal(err)
	}

	c := h.login(alice)
	page := h.page(c, "/ui/agents/"+agentID)
	mustContain(t, page, "gpu-01", "12.50 on 64 CPUs", "512.0 GiB used of 1.0 TiB (50 %)", "1.0 TiB free of 2.0 TiB",
		"NVIDIA A100-SXM4-80GB", "97 %", "79872 / 81920 MiB", `value="97"`)
	mustContain(t, h.page(c, "/ui/agents/"+silent), "has not reported its resources yet")

	// Next to Rerun: the GPUs of the host a rerun would go to, as
	// information (the button stays enabled).
	batch := h.page(c, "/ui/batches/"+h.batch(alice, "mnist", "gpu-01"))
	mustContain(t, batch, `id="rerun-gpus"`, "GPU 0: 97 % busy, 78/80 GB; GPU 1: 0 % busy, 0.0/80 GB", "Press Rerun to launch")
	if strings.Contains(batch, "rerun-off") {
		t.Fatalf("busy GPUs greyed out Rerun:\n%s", batch)
	}
	offline := h.page(c, "/ui/batches/"+h.batch(alice, "mnist", "gpu-09"))
	if strings.Contains(offline, "rerun-gpus") || strings.Contains(offline, "Press Rerun") {
		t.Fatalf("a batch whose host has no agent online shows GPUs or invites a Rerun:\n%s", offline)
	}

	if r := h.ui(uiReq{method: "GET", path: "/ui/agents/" + agentID, cookie: h.login(bob)}); r.code != http.StatusNotFound {
		t.Fatalf("bob GET alice's host page: %d, want 404", r.code)
	}
	// A recipient may rerun alice's batch on her agent, but her agent's
	// resources are hers, as in the API.
	h.expect(http.StatusOK, "POST", "/api/projects/mnist/recipients", alice, map[string]string{"user": "bob"})
	shared := h.page(h.login(bob), "/ui/batches/"+h.batch(alice, "mnist", "gpu-01"))
	if strings.Contains(shared, "rerun-gpus") || strings.Contains(shared, "A100") || strings.Contains(shared, "/ui/agents/") {
		t.Fatalf("a recipient sees the owner's agent's GPUs or host page:\n%s", shared)
	}
	mustContain(t, shared, `id="rerun"`)
}

// Without JavaScript a time reads in UTC with its zone; the <time>
// element carries the instant for live.js to show in the reader's zone.
func TestPagesWriteTimesWithTheirZone(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	h.agent(alice, "gpu-01", "", true)
	id := h.batch(alice, "mnist", "gpu-01")
	page := h.page(h.login(alice), "/ui/batches/"+id)
	m := regexp.MustCompile(`<time datetime="([^"]+)" title="[^"]+">([^<]+)</time>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no <time> on the batch page:\n%s", page)
	}
	at, err := time.Parse(time.RFC3339, m[1])
	if err != nil || m[2] != at.UTC().Format("2006-01-02 15:04:05")+" UTC" {
		t.Fatalf("<time datetime=%q> reads %q (%v), want the same instant in UTC with its zone", m[1], m[2], err)
	}
}
