package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/argus-exec/argus/server/store"
)

// testResources: reports replace each other whole, newest wins whatever
// order they arrive in, many go in one call, and agents that never
// reported are absent.
func testResources(t *testing.T, f *fixture) {
	alice := f.user("alice")
	const many = 300 // more than one statement's worth
	now := t0.Add(time.Hour)
	reports := map[string]store.ResourceReport{}
	ids := []string{}
	for i := range many {
		id := fmt.Sprintf("ag-%03d", i)
		f.agent(alice, id, "host-"+id)
		reports[id] = store.ResourceReport{Report: []byte(fmt.Sprintf(`{"load1":%d}`, i)), At: now}
		ids = append(ids, id)
	}
	f.agent(alice, "ag-silent", "host-silent")
	f.must(f.s.SaveResources(f.ctx, nil))
	f.must(f.s.SaveResources(f.ctx, reports))

	got, err := f.s.Resources(f.ctx, append(ids, "ag-silent", "ag-unknown"))
	f.must(err)
	if len(got) != many {
		t.Fatalf("Resources returned %d reports, want %d (none for the silent and unknown agents)", len(got), many)
	}
	for _, id := range []string{"ag-000", "ag-123", "ag-299"} {
		if string(got[id].Report) != string(reports[id].Report) || !got[id].At.Equal(now) {
			t.Errorf("report of %s = %s at %v, want %s at %v", id, got[id].Report, got[id].At, reports[id].Report, now)
		}
	}

	// A newer report replaces; an older one, arriving late from another
	// replica, changes nothing.
	f.must(f.s.SaveResources(f.ctx, map[string]store.ResourceReport{
		"ag-000": {Report: []byte(`{"load1":1000}`), At: now.Add(time.Second)},
		"ag-001": {Report: []byte(`{"load1":-1}`), At: now.Add(-time.Second)},
	}))
	got, err = f.s.Resources(f.ctx, []string{"ag-000", "ag-001"})
	f.must(err)
	if string(got["ag-000"].Report) != `{"load1":1000}` || !got["ag-000"].At.Equal(now.Add(time.Second)) {
		t.Errorf("a newer report did not replace: %s at %v", got["ag-000"].Report, got["ag-000"].At)
	}
	if string(got["ag-001"].Report) != `{"load1":1}` {
		t.Errorf("an older report replaced a newer one: %s", got["ag-001"].Report)
	}
	if got, err := f.s.Resources(f.ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("Resources(nil) = %v, %v; want none", got, err)
	}
}
