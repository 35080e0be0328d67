package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// keyed is what every paged list returns.
type keyed interface{ Key() store.Key }

// walk reads a paged list to its end, limit items a page, and returns every
// item in order. It fails the test when a page is longer than limit, when
// a page that says more follows is short, or when an item does not come
// strictly after the one before it in the list's order (so a cursor that
// does not advance fails at once instead of looping).
func walk[T keyed](f *fixture, what string, limit int, list func(store.Page) ([]T, bool, error)) []T {
	f.t.Helper()
	var out []T
	p := store.Page{Limit: limit}
	for page := 1; ; page++ {
		got, more, err := list(p)
		if err != nil {
			f.t.Fatalf("%s, page %d: %v", what, page, err)
		}
		if len(got) > limit || (more && len(got) < limit) || (more && len(got) == 0) {
			f.t.Fatalf("%s, page %d: %d items with more=%v, limit %d", what, page, len(got), more, limit)
		}
		for _, x := range got {
			if p.After != nil && !older(x.Key(), *p.After) {
				f.t.Fatalf("%s, page %d: %+v does not come after %+v", what, page, x.Key(), *p.After)
			}
			k := x.Key()
			p.After = &k
		}
		out = append(out, got...)
		if !more {
			return out
		}
	}
}

// older reports whether a comes after b in newest-first order.
func older(a, b store.Key) bool {
	return a.CreatedAt.Before(b.CreatedAt) || (a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID)
}

// agents, batches and runs are the whole of a user's list, read in pages
// of a size no test reaches, for checks that are not about paging.
func (f *fixture) agents(userID string) []store.Agent {
	f.t.Helper()
	return walk(f, "ListAgents", 1000, func(p store.Page) ([]store.Agent, bool, error) {
		return f.s.ListAgents(f.ctx, userID, p)
	})
}

func (f *fixture) batches(userID string) []store.Batch {
	f.t.Helper()
	return walk(f, "ListBatches", 1000, func(p store.Page) ([]store.Batch, bool, error) {
		return f.s.ListBatches(f.ctx, userID, store.BatchFilter{}, p)
	})
}

// newestFirst sorts ids of items the way every paged list is ordered.
func newestFirst[T keyed](items []T) []string {
	s := slices.Clone(items)
	slices.SortFunc(s, func(a, b T) int {
		ka, kb := a.Key(), b.Key()
		if c := kb.CreatedAt.Compare(ka.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(kb.ID, ka.ID)
	})
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = x.Key().ID
	}
	return out
}

// sizes are the page sizes every walk is tried with: one, small ones that
// do and do not divide the list, exactly its length, and more.
func sizes(n int) []int { return []int{1, 2, 3, 7, n, n + 1, 1000} }

func testPagedBatches(t *testing.T, f *fixture) {
	alice, bob, carol, dave := f.user("alice"), f.user("bob"), f.user("carol"), f.user("dave")
	var aliceSees, carolSees []store.Batch
	for i := range 20 {
		// Three batches share each creation time, so ties fall on page
		// boundaries for most page sizes.
		at := t0.Add(time.Duration(i/3) * time.Minute)
		b := f.batch(alice, "vision", fmt.Sprintf("b-%02d", i), at)
		aliceSees, carolSees = append(aliceSees, b), append(carolSees, b)
		f.batch(bob, "audio", fmt.Sprintf("b-bob-%02d", i), at) // never anyone else's
	}
	f.must(f.s.AddRecipient(f.ctx, "vision", carol.ID))
	own := f.batch(carol, "text", "b-carol-own", t0.Add(time.Minute))
	shared := f.batch(carol, "vision", "b-carol-vision", t0.Add(time.Minute)) // ties with b-03..05
	carolSees = append(carolSees, own, shared)
	aliceSees = append(aliceSees, shared)

	for _, c := range []struct {
		user store.User
		want []string
	}{{alice, newestFirst(aliceSees)}, {carol, newestFirst(carolSees)}, {dave, nil}} {
		for _, n := range sizes(len(c.want)) {
			what := fmt.Sprintf("ListBatches(%s) by %d", c.user.Name, n)
			got := walk(f, what, max(n, 1), func(p store.Page) ([]store.Batch, bool, error) {
				return f.s.ListBatches(f.ctx, c.user.ID, store.BatchFilter{}, p)
			})
			sameIDs(t, what, ids(got, batchID), c.want)
		}
	}

	// A position is no key to anything: alice's cursor in dave's list (or
	// a made-up one) still lists only what dave may see.
	k := aliceSees[10].Key()
	got, more, err := f.s.ListBatches(f.ctx, dave.ID, store.BatchFilter{}, store.Page{Limit: 100, After: &k})
	f.must(err)
	if len(got) != 0 || more {
		t.Errorf("ListBatches(dave) after alice's key = %q (more %v), want nothing", ids(got, batchID), more)
	}
	got, _, err = f.s.ListBatches(f.ctx, bob.ID, store.BatchFilter{}, store.Page{Limit: 100, After: &store.Key{CreatedAt: t0.Add(time.Hour), ID: "zzz"}})
	f.must(err)
	if len(got) != 20 {
		t.Errorf("ListBatches(bob) after a key past the newest: %d batches, want his 20", len(got))
	}

	_, _, err = f.s.ListBatches(f.ctx, alice.ID, store.BatchFilter{}, store.Page{})
	if err == nil {
		t.Error("ListBatches with limit 0 succeeded: a page must be bounded")
	}
}

// testPagedListsOfManyProjects: the batches and runs lists of a user who
// sees a few projects (read as one bounded read per project, merged) and
// of one who sees many (read with the single visibility condition) page
// alike: each item once, newest first, across ties, with a host filter
// too.
func testPagedListsOfManyProjects(t *testing.T, f *fixture) {
	olga, pete, quinn := f.user("olga"), f.user("pete"), f.user("quinn")
	ao, aq := f.agent(olga, "ag-olga", "gpu1"), f.agent(quinn, "ag-quinn", "gpu1")
	var all []store.Batch
	var allRuns []store.Run
	for i := range 60 {
		project := fmt.Sprintf("p%02d", i)
		at := t0.Add(time.Duration(i/3) * time.Minute)
		b := f.batch(olga, project, "b-"+project, at)
		r, _ := f.rerun(b, ao, "r-"+project, at)
		all, allRuns = append(all, b), append(allRuns, r)
		f.must(f.s.AddRecipient(f.ctx, project, pete.ID))
		if i < 10 {
			f.must(f.s.AddRecipient(f.ctx, project, quinn.ID))
		}
	}
	// quinn's own batches: one in a project shared with him (listed once),
	// one in his own project; a run of each.
	inShared := f.batch(quinn, "p00", "b-quinn-p00", t0.Add(time.Minute))
	own := f.batch(quinn, "quinn", "b-quinn-own", t0.Add(2*time.Minute))
	inSharedRun, _ := f.rerun(inShared, aq, "r-quinn-p00", t0.Add(time.Minute))
	ownRun, _ := f.rerun(own, aq, "r-quinn-own", t0.Add(2*time.Minute))
	// rita owns few projects: each of her batches is read twice in a
	// merge (as hers and as her project's), and listed once.
	rita := f.user("rita")
	ar := f.agent(rita, "ag-rita", "gpu1")
	var ritaSees []store.Batch
	var ritaSeesRuns []store.Run
	for i := range 15 {
		at := t0.Add(time.Duration(i/4) * time.Minute)
		b := f.batch(rita, fmt.Sprintf("r%d", i%3), fmt.Sprintf("b-rita-%02d", i), at)
		r, _ := f.rerun(b, ar, fmt.Sprintf("r-rita-%02d", i), at)
		ritaSees, ritaSeesRuns = append(ritaSees, b), append(ritaSeesRuns, r)
	}
	olgaSees := append(slices.Clone(all), inShared)
	quinnSees := append(slices.Clone(all[:10]), inShared, own)
	olgaSeesRuns := append(slices.Clone(allRuns), inSharedRun)
	quinnSeesRuns := append(slices.Clone(allRuns[:10]), inSharedRun, ownRun)

	for _, c := range []struct {
		user       store.User
		host       string
		want, runs []string
	}{
		{olga, "", newestFirst(olgaSees), newestFirst(olgaSeesRuns)},
		{pete, "", newestFirst(olgaSees), newestFirst(olgaSeesRuns)},
		{quinn, "", newestFirst(quinnSees), newestFirst(quinnSeesRuns)},
		{quinn, "GPU1", newestFirst(quinnSees), newestFirst(quinnSeesRuns)}, // every batch here was recorded on gpu1
		{quinn, "gpu2", nil, nil},
		{rita, "", newestFirst(ritaSees), newestFirst(ritaSeesRuns)},
	} {
		for _, n := range []int{1, 4, len(c.want), 1000} {
			what := fmt.Sprintf("ListBatches(%s, host %q) by %d", c.user.Name, c.host, n)
			got := walk(f, what, max(n, 1), func(p store.Page) ([]store.Batch, bool, error) {
				return f.s.ListBatches(f.ctx, c.user.ID, store.BatchFilter{Host: c.host}, p)
			})
			sameIDs(t, what, ids(got, batchID), c.want)
			what = fmt.Sprintf("ListRunsForUser(%s, host %q) by %d", c.user.Name, c.host, n)
			runs := walk(f, what, max(n, 1), func(p store.Page) ([]store.Run, bool, error) {
				return f.s.ListRunsForUser(f.ctx, c.user.ID, store.RunFilter{Host: c.host}, p)
			})
			sameIDs(t, what, ids(runs, runID), c.runs)
		}
	}
}

func testPagedAgents(t *testing.T, f *fixture) {
	alice, bob := f.user("alice"), f.user("bob")
	var mine []store.Agent
	for i := range 9 {
		at := t0.Add(time.Duration(i/2) * time.Second) // pairs share a time
		a := store.Agent{ID: fmt.Sprintf("ag-%d", i), UserID: alice.ID, Hostname: "gpu", CreatedAt: at}
		f.must(f.s.RegisterAgent(f.ctx, a, agentToken(a)))
		mine = append(mine, a)
		b := store.Agent{ID: fmt.Sprintf("ag-bob-%d", i), UserID: bob.ID, Hostname: "gpu", CreatedAt: at}
		f.must(f.s.RegisterAgent(f.ctx, b, agentToken(b)))
	}
	want := newestFirst(mine)
	for _, n := range sizes(len(want)) {
		what := fmt.Sprintf("ListAgents(alice) by %d", n)
		got := walk(f, what, n, func(p store.Page) ([]store.Agent, bool, error) {
			return f.s.ListAgents(f.ctx, alice.ID, p)
		})
		sameIDs(t, what, ids(got, agentID), want)
	}
}

// runWorld is alice's and bob's runs over two projects, two agents and
// several states, with ties on creation time; carol is a recipient of
// vision.
type runWorld struct {
	alice, bob, carol store.User
	runs              []store.Run // every run, as stored
	project           map[string]string
}

func (f *fixture) runWorld() runWorld {
	f.t.Helper()
	w := runWorld{alice: f.user("alice"), bob: f.user("bob"), carol: f.user("carol"), project: map[string]string{}}
	a1, a2 := f.agent(w.alice, "ag-1", "gpu1"), f.agent(w.alice, "ag-2", "gpu2")
	ab := f.agent(w.bob, "ag-bob", "gpu9")
	bs := []store.Batch{
		f.batch(w.alice, "vision", "b-v1", t0), f.batch(w.alice, "vision", "b-v2", t0),
		f.batch(w.alice, "text", "b-t1", t0),
	}
	bob := f.batch(w.bob, "audio", "b-bob", t0)
	f.must(f.s.AddRecipient(f.ctx, "vision", w.carol.ID))
	for _, b := range append(bs, bob) {
		w.project[b.ID] = b.Project
	}
	for i := range 24 {
		at := t0.Add(time.Duration(i/4) * time.Minute)
		b, a := bs[i%3], []store.Agent{a1, a2}[i%2]
		id := fmt.Sprintf("r-%02d", i)
		if i%4 == 3 {
			w.runs = append(w.runs, f.running(b, a, id, 100+i))
			continue
		}
		r, _ := f.rerun(b, a, id, at)
		w.runs = append(w.runs, r)
		f.rerun(bob, ab, "r-bob-"+id, at) // never anyone else's
	}
	// f.running queues at t0: its runs tie with the first four.
	for i, r := range w.runs {
		got, err := f.s.Run(f.ctx, r.ID)
		f.must(err)
		w.runs[i] = got
	}
	return w
}

// match is the model of a RunFilter.
func (w runWorld) match(r store.Run, fl store.RunFilter) bool {
	return (fl.Status == "" || r.Status == fl.Status) && (fl.BatchID == "" || r.BatchID == fl.BatchID) &&
		(fl.Project == "" || w.project[r.BatchID] == fl.Project) && (fl.AgentID == "" || r.AgentID == fl.AgentID)
}

func testPagedRuns(t *testing.T, f *fixture) {
	w := f.runWorld()
	filters := []store.RunFilter{
		{}, {Status: api.RunQueued}, {Status: api.RunRunning}, {Status: api.RunExited},
		{BatchID: "b-v1"}, {Project: "vision"}, {Project: "text"}, {AgentID: "ag-2"},
		{Status: api.RunQueued, Project: "vision", AgentID: "ag-1"},
		{BatchID: "b-t1", AgentID: "ag-2", Status: api.RunRunning},
		{BatchID: "b-bob"}, {Project: "audio"}, {AgentID: "ag-bob"}, // bob's: nothing for alice
		{BatchID: "b-v1", Project: "text"}, // contradictory: nothing
	}
	for _, u := range []store.User{w.alice, w.carol} {
		for _, fl := range filters {
			var want []store.Run
			for _, r := range w.runs {
				if w.match(r, fl) && (u.ID == w.alice.ID || w.project[r.BatchID] == "vision") {
					want = append(want, r)
				}
			}
			for _, n := range []int{1, 3, 1000} {
				what := fmt.Sprintf("ListRunsForUser(%s, %+v) by %d", u.Name, fl, n)
				got := walk(f, what, n, func(p store.Page) ([]store.Run, bool, error) {
					return f.s.ListRunsForUser(f.ctx, u.ID, fl, p)
				})
				sameIDs(t, what, ids(got, runID), newestFirst(want))
			}
		}
	}
}

// testPagedRunsInsertBetween takes a filtered first page, then adds runs
// newer than all (which belong before page one and must not shift the
// rest), one older than the cursor (which belongs after it and must show up
// once) and one that fails the filter, and reads on with the same cursor.
func testPagedRunsInsertBetween(t *testing.T, f *fixture) {
	alice := f.user("alice")
	a := f.agent(alice, "ag-1", "gpu1")
	b := f.batch(alice, "vision", "b-1", t0)
	other := f.batch(alice, "text", "b-2", t0)
	var before []store.Run
	for i := range 10 {
		r, _ := f.rerun(b, a, fmt.Sprintf("r-%02d", i), t0.Add(time.Duration(i)*time.Minute))
		before = append(before, r)
	}
	fl := store.RunFilter{Project: "vision", Status: api.RunQueued}
	list := func(p store.Page) ([]store.Run, bool, error) { return f.s.ListRunsForUser(f.ctx, alice.ID, fl, p) }

	first, more, err := list(store.Page{Limit: 4})
	f.must(err)
	want := newestFirst(before)
	sameIDs(t, "first page", ids(first, runID), want[:4])
	if !more {
		t.Fatal("first page of 10 by 4: more = false")
	}
	for i := range 3 {
		f.rerun(b, a, fmt.Sprintf("r-new-%d", i), t0.Add(time.Hour))
	}
	late, _ := f.rerun(b, a, "r-late", t0.Add(90*time.Second)) // between r-01 and r-02
	f.rerun(other, a, "r-other", t0.Add(30*time.Second))       // another project

	k := first[len(first)-1].Key()
	rest := walk(f, "pages after the first", 4, func(p store.Page) ([]store.Run, bool, error) {
		if p.After == nil {
			p.After = &k
		}
		return list(p)
	})
	sameIDs(t, "pages after the first", ids(rest, runID), newestFirst(slices.Concat(before[:6], []store.Run{late})))
}
