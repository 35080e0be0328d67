package storetest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/server/store"
)

// appendLog appends and fails the test on an error.
func (f *fixture) appendLog(a store.Agent, runID string, off int64, data string, keep int64) int64 {
	f.t.Helper()
	next, err := f.s.AppendRunLog(f.ctx, a.ID, runID, off, []byte(data), keep)
	if err != nil {
		f.t.Fatalf("AppendRunLog(%s, %d, %d bytes): %v", runID, off, len(data), err)
	}
	return next
}

// readLog reads and fails the test on an error.
func (f *fixture) readLog(runID string, off int64, max int) store.LogSlice {
	f.t.Helper()
	l, err := f.s.ReadRunLog(f.ctx, runID, off, max)
	if err != nil {
		f.t.Fatalf("ReadRunLog(%s, %d): %v", runID, off, err)
	}
	return l
}

// testRunLogAppend: appends land at their offsets, any bytes; a resend
// after a restart adds only what is new; a gap is refused and changes
// nothing; another agent's append is not found.
func testRunLogAppend(t *testing.T, f *fixture) {
	a, other, b := f.setup()
	r := f.running(b, a, "r-log", 1)
	if l := f.readLog(r.ID, 0, 100); len(l.Data) != 0 || l.Received != 0 || l.Size != nil {
		t.Fatalf("new run's log = %+v, want empty", l)
	}
	if next := f.appendLog(a, r.ID, 0, "one\n\x00\xff", 0); next != 6 {
		t.Fatalf("next after 6 bytes = %d", next)
	}
	if next := f.appendLog(a, r.ID, 3, "\n\x00\xfftwo\n", 0); next != 10 {
		t.Fatalf("next after a resend overlapping 3 bytes = %d, want 10", next)
	}
	if next := f.appendLog(a, r.ID, 0, "", 0); next != 10 {
		t.Fatalf("an empty append (where are you?) = %d, want 10", next)
	}
	next, err := f.s.AppendRunLog(f.ctx, a.ID, r.ID, 12, []byte("gap"), 0)
	if !errors.Is(err, store.ErrLogGap) || next != 10 {
		t.Fatalf("append past the end = %d, %v; want 10, ErrLogGap", next, err)
	}
	if _, err := f.s.AppendRunLog(f.ctx, other.ID, r.ID, 10, []byte("x"), 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another agent's append: %v, want ErrNotFound", err)
	}
	if _, err := f.s.AppendRunLog(f.ctx, a.ID, "no-such-run", 0, []byte("x"), 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("append to a missing run: %v, want ErrNotFound", err)
	}
	l := f.readLog(r.ID, 0, 100)
	if string(l.Data) != "one\n\x00\xfftwo\n" || l.Start != 0 || l.Next() != 10 || l.Received != 10 {
		t.Fatalf("log = %+v (%q)", l, l.Data)
	}
	if l := f.readLog(r.ID, 4, 3); string(l.Data) != "\x00\xfft" || l.Start != 4 || l.Next() != 7 {
		t.Fatalf("read 3 from 4 = %+v (%q)", l, l.Data)
	}
	if l := f.readLog(r.ID, 10, 100); len(l.Data) != 0 || l.Start != 10 {
		t.Fatalf("read at the end = %+v", l)
	}
	if _, err := f.s.ReadRunLog(f.ctx, "no-such-run", 0, 10); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("read of a missing run: %v, want ErrNotFound", err)
	}
}

// testRunLogCap: past the cap the store keeps the first api.LogHead bytes
// and the newest, with a gap in the offsets between; reads never cross
// the gap in one slice, and one starting inside it starts after it.
func testRunLogCap(t *testing.T, f *fixture) {
	a, _, b := f.setup()
	r := f.running(b, a, "r-cap", 1)
	const keep = api.MinLogMax
	var all bytes.Buffer
	var next int64
	for i := 0; all.Len() < 5*keep; i++ {
		chunk := bytes.Repeat([]byte{byte('a' + i%26)}, 700<<10)
		next = f.appendLog(a, r.ID, next, string(chunk), keep)
		all.Write(chunk)
	}
	if next != int64(all.Len()) {
		t.Fatalf("next = %d after %d bytes", next, all.Len())
	}
	head := f.readLog(r.ID, 0, api.LogHead+1000)
	if head.Start != 0 || len(head.Data) != api.LogHead || !bytes.Equal(head.Data, all.Bytes()[:api.LogHead]) {
		t.Fatalf("head: start %d, %d bytes, want the first %d bytes and to stop at the gap", head.Start, len(head.Data), api.LogHead)
	}
	after := f.readLog(r.ID, head.Next(), 64<<20)
	kept := int64(len(after.Data))
	if after.Start <= head.Next() || after.Next() != next {
		t.Fatalf("after the head: start %d next %d, want a jump past %d up to %d", after.Start, after.Next(), head.Next(), next)
	}
	if kept+api.LogHead > keep || kept+api.LogHead < keep-api.MaxLogChunk {
		t.Fatalf("kept %d bytes after the head, cap %d", kept, keep)
	}
	if !bytes.Equal(after.Data, all.Bytes()[after.Start:]) {
		t.Fatal("the newest part differs from what was appended")
	}
	mid := f.readLog(r.ID, api.LogHead+10, 10)
	if mid.Start != after.Start || string(mid.Data) != string(all.Bytes()[after.Start:after.Start+10]) {
		t.Fatalf("a read inside the gap starts at %d, want %d", mid.Start, after.Start)
	}
}

// testRunLogSize: an exit report's log_size is kept with the log, and a
// report without it leaves it unknown.
func testRunLogSize(t *testing.T, f *fixture) {
	a, _, b := f.setup()
	r := f.running(b, a, "r-size", 1)
	f.appendLog(a, r.ID, 0, "abc", 0)
	if _, err := f.s.ReportExit(f.ctx, a.ID, r.ID, api.ExitReport{ExitCode: ptr(0), EndedAt: t0, LogSize: ptr(int64(5))}); err != nil {
		t.Fatal(err)
	}
	if l := f.readLog(r.ID, 0, 10); l.Size == nil || *l.Size != 5 || l.Received != 3 {
		t.Fatalf("log after exit = %+v, want size 5, received 3", l)
	}
	// Output still arriving after the exit report is taken.
	if next := f.appendLog(a, r.ID, 3, "de", 0); next != 5 {
		t.Fatalf("append after exit: next %d", next)
	}
	old := f.running(b, a, "r-old", 2)
	if _, err := f.s.ReportExit(f.ctx, a.ID, old.ID, api.ExitReport{ExitCode: ptr(0), EndedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if l := f.readLog(old.ID, 0, 10); l.Size != nil {
		t.Fatalf("size without log_size = %d, want unknown", *l.Size)
	}
}
