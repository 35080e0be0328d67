package server_test

import (
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/argus-exec/argus/server"
	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
	"github.com/argus-exec/argus/token"
)

// sortedBase32 is the id alphabet in byte order, so ids sort as numbers.
var sortedBase32 = base32.NewEncoding("234567abcdefghijklmnopqrstuvwxyz").WithPadding(base32.NoPadding)

// testID is a well-formed id (prefix_ and 20 base32 characters) that sorts
// by n, for rows the tests store directly.
func testID(prefix string, n int) string {
	var b [13]byte
	binary.BigEndian.PutUint64(b[:8], uint64(n))
	return prefix + "_" + sortedBase32.EncodeToString(b[:])[:20]
}

// page is one answer of any paged list, as the wire has it.
type page struct {
	ids  []string
	next string
}

// list GETs one page of path (a list, with any query) and decodes it.
func (h *harness) list(path, tok string) page {
	h.t.Helper()
	var raw map[string]json.RawMessage
	h.expect(200, "GET", path, tok, nil).json(h.t, &raw)
	var p page
	for key, v := range raw {
		switch key {
		case "next_cursor":
			if err := json.Unmarshal(v, &p.next); err != nil || p.next == "" {
				h.t.Fatalf("GET %s: next_cursor %s: want a non-empty string or no key", path, v)
			}
		case "batches", "runs", "agents":
			var items []struct{ ID string }
			if err := json.Unmarshal(v, &items); err != nil {
				h.t.Fatal(err)
			}
			for _, it := range items {
				p.ids = append(p.ids, it.ID)
			}
		}
	}
	return p
}

// walkList follows next_cursor from the first page of path to the last,
// checking that no page is longer than limit (100 when 0), and returns
// every id in order.
func (h *harness) walkList(path, tok string, limit int) []string {
	h.t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	first := path
	if limit != 0 {
		first += sep + "limit=" + fmt.Sprint(limit)
		sep = "&"
	} else {
		limit = 100
	}
	var all []string
	for p, n := h.list(first, tok), 1; ; p, n = h.list(first+sep+"cursor="+url.QueryEscape(p.next), tok), n+1 {
		if len(p.ids) > limit || (p.next != "" && len(p.ids) < limit) {
			h.t.Fatalf("GET %s page %d: %d items, next_cursor %q, limit %d", path, n, len(p.ids), p.next, limit)
		}
		all = append(all, p.ids...)
		if p.next == "" {
			return all
		}
		if n > 2000 {
			h.t.Fatalf("GET %s: still more after %d pages", path, n)
		}
	}
}

// seeded is a harness whose alice owns n batches in project vision, each
// with one queued run on her agent, and n more agents, stored directly (the
// lists are what is under test, and n may be large); ids are newest first.
// Pairs of items share a creation time, so ties fall on page boundaries.
// bob owns a batch with a run, made through the API.
type seeded struct {
	*harness
	alice, bob            string // tokens
	batches, runs, agents []string
	bobBatch, bobRun      string
}

func seed(t *testing.T, n int) *seeded {
	h := newHarness(t, server.Config{})
	s := &seeded{harness: h, alice: h.user("alice"), bob: h.user("bob")}
	ctx := context.Background()
	aliceID := h.users["alice"]
	mine, _ := h.agent(s.alice, "gpu1", "", false)
	bobAgent, bobTok := h.agent(s.bob, "gpu9", "", true)
	s.bobBatch = h.batch(s.bob, "audio", "gpu9")
	s.bobRun = h.started(s.bob, s.bobBatch, bobAgent, bobTok, 4242).RunID
	base := time.Now().Add(-time.Hour).UTC()
	for i := range n {
		at := base.Add(time.Duration(i-i%3/2) * time.Millisecond)
		b := store.Batch{ID: testID("bat", i), OwnerID: aliceID, Project: "vision", Name: "train", CreatedAt: at,
			Snapshot: api.EnvSnapshot{Command: api.CommandLine{Argv: []string{"true"}}, Cwd: "/w", Host: "gpu1"}}
		must(t, h.store.CreateBatch(ctx, b))
		r := store.Run{ID: testID("run", i), BatchID: b.ID, AgentID: mine, CreatedAt: at}
		c := store.Command{ID: testID("cmd", i), Kind: api.KindRerun, CreatedAt: at,
			Payload: api.Command{ID: testID("cmd", i), Kind: api.KindRerun, RunID: r.ID, BatchID: b.ID, CreatedAt: at}}
		must(t, h.store.QueueRerun(ctx, r, c))
		a := store.Agent{ID: testID("agt", i), UserID: aliceID, Hostname: "h", CreatedAt: at}
		must(t, h.store.RegisterAgent(ctx, a, store.Token{ID: testID("tok", i), Hash: testID("hash", i),
			Kind: token.Agent, UserID: aliceID, AgentID: a.ID, CreatedAt: at}))
		s.batches, s.runs, s.agents = append(s.batches, b.ID), append(s.runs, r.ID), append(s.agents, a.ID)
	}
	slices.Reverse(s.batches)
	slices.Reverse(s.runs)
	slices.Reverse(s.agents)
	s.agents = append([]string{mine}, s.agents...) // registered through the API just now: the newest
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestListsPage walks each list with the default page size and others:
// every item exactly once, newest first, bounded pages, next_cursor absent
// exactly on the last page; and the first page is the default 100.
func TestListsPage(t *testing.T) {
	s := seed(t, 230)
	for _, c := range []struct {
		path string
		want []string
	}{
		{"/api/batches", s.batches},
		{"/api/runs", s.runs},
		{"/api/agents", s.agents},
	} {
		first := s.list(c.path, s.alice)
		if len(first.ids) != 100 || first.next == "" {
			t.Errorf("GET %s: %d items, next_cursor %q; want the default 100 and a cursor", c.path, len(first.ids), first.next)
		}
		for _, limit := range []int{0, 1, 7, 100, len(c.want), 1000} {
			if limit == 1 && len(c.want) > 50 {
				continue // one item a page is the storetest's; here it would be 230 requests
			}
			got := s.walkList(c.path, s.alice, limit)
			if !slices.Equal(got, c.want) {
				t.Errorf("walking %s by %d: %d ids, want %d (first difference at %d)", c.path, limit, len(got), len(c.want), firstDiff(got, c.want))
			}
		}
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestListRunsOver500 is the old silent cut: /api/runs answered at most
// 500 runs, with no sign that there were more.
func TestListRunsOver500(t *testing.T) {
	s := seed(t, 620)
	got := s.walkList("/api/runs", s.alice, 0)
	if len(got) != 620 || !slices.Equal(got, s.runs) {
		t.Errorf("walking /api/runs: %d runs, want all 620 in order", len(got))
	}
	p := s.list("/api/runs?limit=1000", s.alice)
	if len(p.ids) != 620 || p.next != "" {
		t.Errorf("GET /api/runs?limit=1000: %d runs, next_cursor %q; want all 620 and no cursor", len(p.ids), p.next)
	}
	p = s.list("/api/runs?limit=600", s.alice)
	if len(p.ids) != 600 || p.next == "" {
		t.Errorf("GET /api/runs?limit=600: %d runs, next_cursor %q; want 600 and a cursor to the last 20", len(p.ids), p.next)
	}
}

// TestListsBadParams: every malformed limit, cursor or status is 400 with
// a message naming the parameter, on every list.
func TestListsBadParams(t *testing.T) {
	s := seed(t, 3)
	forged := func(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }
	runsCursor := s.list("/api/runs?limit=1", s.alice).next
	batchesCursor := s.list("/api/batches?limit=1", s.alice).next
	if runsCursor == "" || batchesCursor == "" {
		t.Fatal("no cursor from a first page of one")
	}
	for _, path := range []string{"/api/batches", "/api/runs", "/api/agents"} {
		for _, c := range []struct{ query, names string }{
			{"limit=0", "limit"}, {"limit=-1", "limit"}, {"limit=1001", "limit"}, {"limit=abc", "limit"},
			{"limit=1.5", "limit"}, {"limit=", "limit"}, {"cursor=", "cursor"}, {"limit=10&limit=20", "limit"},
			{"limit=99999999999999999999", "limit"},
			{"cursor=%21%21", "cursor"},                        // not base64url
			{"cursor=" + forged("x"), "cursor"},                // no fields
			{"cursor=" + forged("b.notatime.bat_x"), "cursor"}, // bad time
			{"cursor=" + forged("b.-5.bat_x"), "cursor"},
			{"cursor=" + forged("b.0012.bat_x"), "cursor"}, // not canonical
			{"cursor=" + forged("b.12."), "cursor"},        // no id
			{"cursor=" + forged("r.12.\x01"), "cursor"},    // control character
			{"cursor=" + strings.Repeat("A", 600), "cursor"},
			{"cursor=" + batchesCursor + "=", "cursor"}, // padded
		} {
			r := s.expect(400, "GET", path+"?"+c.query, s.alice, nil)
			var e api.Error
			r.json(t, &e)
			if !strings.Contains(e.Error, c.names) {
				t.Errorf("GET %s?%s: error %q does not name %s", path, c.query, e.Error, c.names)
			}
		}
	}
	// A cursor is good only for the list that handed it out.
	s.expect(400, "GET", "/api/batches?cursor="+runsCursor, s.alice, nil)
	s.expect(400, "GET", "/api/agents?cursor="+runsCursor, s.alice, nil)
	s.expect(400, "GET", "/api/runs?cursor="+batchesCursor, s.alice, nil)

	for _, q := range []string{"status=bogus", "status=RUNNING", "status=", "status=queued&status=running",
		"batch=" + strings.Repeat("x", 300), "project=a&project=b"} {
		param := strings.SplitN(q, "=", 2)[0]
		var e api.Error
		s.expect(400, "GET", "/api/runs?"+q, s.alice, nil).json(t, &e)
		if !strings.Contains(e.Error, param) {
			t.Errorf("GET /api/runs?%s: error %q does not name %s", q, e.Error, param)
		}
	}

	// With several bad filters the answer names the first in a fixed order
	// (status, batch, project, agent), whatever order the query lists them
	// in, so the same request always gets the same answer. Repeated
	// because the order a map is walked in changes from one walk to the next.
	for range 20 {
		for _, c := range []struct{ query, names string }{
			{"agent=&project=&batch=", "batch is empty"},
			{"agent=&project=", "project is empty"},
			{"agent=&batch=a&batch=b&status=bogus", "status must be"},
		} {
			var e api.Error
			s.expect(400, "GET", "/api/runs?"+c.query, s.alice, nil).json(t, &e)
			if !strings.HasPrefix(e.Error, c.names) {
				t.Fatalf("GET /api/runs?%s: error %q, want the one starting %q", c.query, e.Error, c.names)
			}
		}
	}
}

// TestListRunsFilters checks each filter and a combination against runs
// made through the API, in several states, on two agents and projects.
func TestListRunsFilters(t *testing.T) {
	h := newHarness(t, server.Config{})
	alice, carol := h.user("alice"), h.user("carol")
	ag1, tok1 := h.agent(alice, "gpu1", "", true)
	ag2, tok2 := h.agent(alice, "gpu2", "", true)
	b1, b2 := h.batch(alice, "vision", "gpu1"), h.batch(alice, "text", "gpu2")
	running := h.started(alice, b1, ag1, tok1, 101).RunID
	running2 := h.started(alice, b2, ag2, tok2, 102).RunID
	var q1, q2 api.Queued
	h.expect(202, "POST", "/api/batches/"+b1+"/rerun", alice, nil).json(t, &q1)
	h.expect(202, "POST", "/api/batches/"+b2+"/rerun", alice, nil).json(t, &q2)
	h.expect(200, "POST", "/api/projects/vision/recipients", alice, api.ShareRequest{User: "carol"})

	for _, c := range []struct {
		query string
		tok   string
		want  []string
	}{
		{"", alice, []string{q2.RunID, q1.RunID, running2, running}},
		{"status=running", alice, []string{running2, running}},
		{"status=queued", alice, []string{q2.RunID, q1.RunID}},
		{"status=exited", alice, nil},
		{"batch=" + b1, alice, []string{q1.RunID, running}},
		{"project=text", alice, []string{q2.RunID, running2}},
		{"agent=" + ag2, alice, []string{q2.RunID, running2}},
		{"status=queued&project=vision&agent=" + ag1, alice, []string{q1.RunID}},
		{"batch=" + b1 + "&project=text", alice, nil},
		{"batch=bat_nosuchbatchatall", alice, nil},
		{"", carol, []string{q1.RunID, running}}, // a recipient of vision only
		{"project=text", carol, nil},
		{"agent=" + ag2, carol, nil},
	} {
		got := h.walkList("/api/runs?"+c.query, c.tok, 1)
		if !slices.Equal(got, c.want) {
			t.Errorf("/api/runs?%s: %q, want %q", c.query, got, c.want)
		}
	}
}

// TestListsStrangerCursor: a cursor is a position, not a permission. bob,
// handed alice's cursors, still sees only his own things.
func TestListsStrangerCursor(t *testing.T) {
	s := seed(t, 5)
	for _, c := range []struct{ path, bobs string }{
		{"/api/batches", s.bobBatch}, {"/api/runs", s.bobRun},
	} {
		for limit := 1; limit < 5; limit++ { // at 5, alice has no next page
			next := s.list(fmt.Sprintf("%s?limit=%d", c.path, limit), s.alice).next
			got := s.list(c.path+"?cursor="+next, s.bob)
			// alice's were stored an hour in the past, so bob's lie
			// above every one of her cursors.
			if len(got.ids) != 0 || got.next != "" {
				t.Errorf("bob on %s with alice's cursor: %q, want nothing", c.path, got.ids)
			}
		}
		if got := s.list(c.path, s.bob).ids; !slices.Equal(got, []string{c.bobs}) {
			t.Errorf("bob on %s: %q, want only his %s", c.path, got, c.bobs)
		}
	}
	// A cursor made up to point above everything lists bob's own only.
	top := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("b.%d.bat_zzzzzzzzzzzzzzzzzzzz", time.Now().Add(time.Hour).UnixMicro())))
	if got := s.list("/api/batches?cursor="+top, s.bob).ids; !slices.Equal(got, []string{s.bobBatch}) {
		t.Errorf("bob with a made-up cursor: %q, want only %s", got, s.bobBatch)
	}
	if got := s.list("/api/agents?limit=1000", s.bob).ids; len(got) != 1 {
		t.Errorf("bob's agents: %q, want his one", got)
	}
}

var (
	batchLink   = regexp.MustCompile(`href="/ui/batches/(bat_[a-z2-7]{20})" class="batch-link"`)
	hostID      = regexp.MustCompile(`href="/ui/agents/(agt_[a-z2-7]{20})" class="host-link"`)
	olderHosts  = regexp.MustCompile(`id="older-hosts" href="([^"]+)"`)
	olderBatch  = regexp.MustCompile(`id="older-batches" href="([^"]+)"`)
	refreshMeta = regexp.MustCompile(`http-equiv="refresh" content="5;\s*url=([^"]+)"`)
)

// walkHome follows one of the home page's "Older" links from start to the
// last page and returns the ids that list showed, in order.
func (h *harness) walkHome(c *http.Cookie, start string, link, item *regexp.Regexp) []string {
	h.t.Helper()
	var all []string
	for path, n := start, 0; path != ""; n++ {
		body := h.page(c, path)
		for _, m := range item.FindAllStringSubmatch(body, -1) {
			all = append(all, m[1])
		}
		path = ""
		if m := link.FindStringSubmatch(body); m != nil {
			path = html.UnescapeString(m[1])
		}
		if n > 50 {
			h.t.Fatalf("still an Older link after %d pages", n)
		}
	}
	return all
}

// TestHomePages: the home page shows a page of each list with an "Older"
// link carrying the cursor and the page size, and walking either reaches
// every item once; it reloads itself where it is; bad paging is 400.
func TestHomePages(t *testing.T) {
	s := seed(t, 7)
	c := s.login(s.alice)
	if got := s.walkHome(c, "/?limit=2", olderBatch, batchLink); !slices.Equal(got, s.batches) {
		t.Errorf("batches over the home pages: %q, want %q", got, s.batches)
	}
	if got := s.walkHome(c, "/?limit=3", olderHosts, hostID); !slices.Equal(got, s.agents) {
		t.Errorf("hosts over the home pages: %q, want %q", got, s.agents)
	}

	first := s.page(c, "/?limit=2")
	m := olderBatch.FindStringSubmatch(first)
	if m == nil {
		t.Fatal("no Older batches link on a page of 2 of 7")
	}
	next := html.UnescapeString(m[1])
	if !strings.Contains(next, "limit=2") {
		t.Errorf("Older link %q drops the page size", next)
	}
	second := s.page(c, next)
	mustContain(t, second, `id="newest"`)
	if r := refreshMeta.FindStringSubmatch(second); r == nil || html.UnescapeString(r[1]) != next {
		t.Errorf("second page reloads to %v, want itself (%s)", r, next)
	}
	if strings.Contains(first, `id="newest"`) {
		t.Error("the first page links to itself as Newest")
	}
	// The default page is 100: all 7 of each fit, so no link at all.
	home := s.page(c, "/")
	if olderBatch.MatchString(home) || olderHosts.MatchString(home) {
		t.Error("home page of 7 items has an Older link")
	}

	for _, bad := range []string{"/?limit=0", "/?limit=1001", "/?cursor=nope", "/?hosts_cursor=nope",
		"/?cursor=" + s.list("/api/runs?limit=1", s.alice).next} {
		if r := s.ui(uiReq{method: "GET", path: bad, cookie: c}); r.code != 400 {
			t.Errorf("GET %s: %d, want 400", bad, r.code)
		}
	}
}

// TestListRunsByEndedStatus: ?status takes every status a run can have,
// the queue's own (cancelled, expired) included.
func TestListRunsByEndedStatus(t *testing.T) {
	t.Parallel()
	h := newHarness(t, server.Config{})
	alice := h.user("alice")
	h.agent(alice, "gpu1", "", true)
	id := h.batch(alice, "vision", "gpu1")
	var q api.Queued
	h.expect(202, "POST", "/api/batches/"+id+"/rerun", alice, nil).json(t, &q)
	h.expect(202, "POST", "/api/runs/"+q.RunID+"/stop", alice, nil)
	if got := h.list("/api/runs?status=cancelled", alice).ids; !slices.Equal(got, []string{q.RunID}) {
		t.Errorf("status=cancelled: %v, want [%s]", got, q.RunID)
	}
	for _, other := range []string{"queued", "expired"} {
		if got := h.list("/api/runs?status="+other, alice).ids; len(got) != 0 {
			t.Errorf("status=%s: %v, want none", other, got)
		}
	}
}
