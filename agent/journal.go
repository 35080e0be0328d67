package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/argus-exec/argus/internal/atomicfile"
	"github.com/argus-exec/argus/server/api"
)

// Record is what the agent knows about one command, kept on disk so a
// restarted agent neither runs a command twice nor forgets to report.
type Record struct {
	CmdID   string `json:"cmd_id"`
	Kind    string `json:"kind"`
	RunID   string `json:"run_id"`
	BatchID string `json:"batch_id,omitempty"`
	State   string `json:"state"`

	// Rerun: the process, identified by PID and start time.
	PID        int       `json:"pid,omitempty"`
	PGID       int       `json:"pgid,omitempty"`
	StartTicks uint64    `json:"start_ticks,omitempty"`
	StartedAt  time.Time `json:"started_at,omitempty"`
	LogPath    string    `json:"log_path,omitempty"`
	// The run's supervisor (agent/internal/supervise), its real parent,
	// by PID and start time, and the file it writes the run's exit to:
	// how a restarted agent learns how a run ended while it was away.
	// Records of agents that predate supervisors have none of them.
	SupervisorPID   int    `json:"supervisor_pid,omitempty"`
	SupervisorStart uint64 `json:"supervisor_start_ticks,omitempty"`
	StatusPath      string `json:"status_path,omitempty"`
	// KilledBy is set when a stop had to SIGKILL the run: what a re-attached
	// run (not the agent's child) is reported to have died of.
	KilledBy string `json:"killed_by,omitempty"`
	// The run's timeout (from the command) and the deadline it gives,
	// fixed when the process is recorded; TimedOut once the deadline came
	// and the agent began stopping the run (timeout.go).
	TimeoutMS int64     `json:"timeout_ms,omitempty"`
	Deadline  time.Time `json:"deadline,omitempty"`
	TimedOut  bool      `json:"timed_out,omitempty"`
	// GraceMS is a stop's grace period, so that a restarted agent resumes
	// an interrupted stop as it was asked (recover.go).
	GraceMS int64 `json:"grace_ms,omitempty"`
	// Ship: the run's output is shipped while it runs (ship.go), set on
	// every rerun journaled by an agent that does so (older records are
	// never shipped); LogShipped once the run has ended and all of its log
	// is on the server.
	Ship       bool `json:"ship,omitempty"`
	LogShipped bool `json:"log_shipped,omitempty"`

	// The outbox: what the server must still be told.
	Ack      *api.AckRequest `json:"ack,omitempty"`
	AckSent  bool            `json:"ack_sent,omitempty"`
	Exit     *api.ExitReport `json:"exit,omitempty"`
	ExitSent bool            `json:"exit_sent,omitempty"`

	UpdatedAt time.Time `json:"updated_at"`
}

// Record states.
const (
	stateStarting = "starting" // journaled, process maybe not started
	stateRunning  = "running"
	stateEnded    = "ended"
	stateFailed   = "failed"   // could not start
	stateStopping = "stopping" // stop in progress
	stateDone     = "done"     // stop finished
)

// pending reports whether the server still has to hear about the record.
func (r *Record) pending() bool {
	return (r.Ack != nil && !r.AckSent) || (r.Exit != nil && !r.ExitSent) || r.unshipped()
}

// unshipped: the run's log has output the server must still get.
func (r *Record) unshipped() bool {
	return r.Kind == api.KindRerun && r.Ship && !r.LogShipped
}

// safeID keeps server-chosen ids usable as file names.
var safeID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)

// journal is a directory of one JSON file per command, each written
// atomically (temp file, fsync, rename, directory fsync) with mode 0600.
// Every read-change-write happens under one lock, so concurrent updates
// of a record (the outbox marking an ack sent while a run's exit is
// recorded) never lose each other.
type journal struct {
	dir   string
	mu    sync.Mutex
	all   map[string]*Record // cmd id → record
	dirty map[string]bool    // records whose last disk write failed
}

func openJournal(dir string) (*journal, error) {
	if err := privateDir(dir); err != nil {
		return nil, err
	}
	j := &journal{dir: dir, all: map[string]*Record{}, dirty: map[string]bool{}}
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
		var r Record
		if err := json.Unmarshal(data, &r); err != nil || !safeID.MatchString(r.CmdID) {
			return nil, fmt.Errorf("journal record %s is corrupt: move it aside and restart", p)
		}
		j.all[r.CmdID] = &r
	}
	return j, nil
}

// get returns a copy of the record for a command, if journaled.
func (j *journal) get(cmdID string) (Record, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	r, ok := j.all[cmdID]
	if !ok {
		return Record{}, false
	}
	return *r, true
}

// runRecord finds the rerun record that started a run.
func (j *journal) runRecord(runID string) (Record, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, r := range j.all {
		if r.Kind == api.KindRerun && r.RunID == runID {
			return *r, true
		}
	}
	return Record{}, false
}

// records returns copies of every record, oldest first.
func (j *journal) records() []Record {
	j.mu.Lock()
	out := make([]Record, 0, len(j.all))
	for _, r := range j.all {
		out = append(out, *r)
	}
	j.mu.Unlock()
	sort.Slice(out, func(a, b int) bool { return out[a].UpdatedAt.Before(out[b].UpdatedAt) })
	return out
}

// shipping returns copies of the records whose logs are still to be
// shipped (ship.go).
func (j *journal) shipping() []Record {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []Record
	for _, r := range j.all {
		if r.unshipped() {
			out = append(out, *r)
		}
	}
	return out
}

// create journals a new command. It counts only once it is on disk: a
// command that could not be journaled must not be started.
func (j *journal) create(r Record) error {
	if !safeID.MatchString(r.CmdID) {
		return fmt.Errorf("command id %q cannot be journaled", r.CmdID)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.all[r.CmdID]; ok {
		return fmt.Errorf("command %s is already journaled", r.CmdID)
	}
	r.UpdatedAt = time.Now().UTC()
	if err := j.write(r, true); err != nil {
		return err
	}
	j.all[r.CmdID] = &r
	return nil
}

// remove forgets a record of a command that was never started: daemon.rerun
// journals a rerun while it asks the server whether to start it, and takes
// the record back when the answer is no or cannot be had, so that the
// command counts as never journaled (a redelivery is handled afresh). The
// file is unlinked and the directory synced, so the record does not come
// back after a power cut, before the command's next delivery (leases are
// seconds) can be journaled again. The memory copy goes as soon as the
// name is gone, even when the directory sync then fails: the worst a
// record revived by a crash can do is be settled as failed by recovery,
// which starts nothing. A record whose file could not be unlinked stays,
// in memory and on disk, and the error says so.
func (j *journal) remove(cmdID string) error {
	if !safeID.MatchString(cmdID) {
		return fmt.Errorf("command id %q cannot be journaled", cmdID)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.all[cmdID]; !ok {
		return nil
	}
	if err := os.Remove(filepath.Join(j.dir, cmdID+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("journal: %w", err)
	}
	delete(j.all, cmdID)
	delete(j.dirty, cmdID)
	if err := atomicfile.SyncDir(j.dir); err != nil {
		return fmt.Errorf("journal: sync %s after removing %s: %w", j.dir, cmdID, err)
	}
	return nil
}

// update applies fn to the record and writes it back. Memory always takes
// the change, since it describes what happened (a process started, say);
// a failed disk write is retried by retryDirty and returned here.
func (j *journal) update(cmdID string, fn func(*Record)) (Record, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	cur, ok := j.all[cmdID]
	if !ok {
		return Record{}, errors.New("no journal record for " + cmdID)
	}
	r := *cur
	fn(&r)
	r.UpdatedAt = time.Now().UTC()
	j.all[cmdID] = &r
	if err := j.write(r, false); err != nil {
		j.dirty[cmdID] = true
		return r, err
	}
	delete(j.dirty, cmdID)
	return r, nil
}

// retryDirty writes again the records whose last write failed.
func (j *journal) retryDirty() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for id := range j.dirty {
		if err := j.write(*j.all[id], false); err != nil {
			return err
		}
		delete(j.dirty, id)
	}
	return nil
}

// write puts a record on disk. A new record's directory entry is synced
// too (newEntry): it is what makes a command count as journaled, so at
// most once survives a power loss. An update replaces an existing entry;
// its content is synced, the rename is left to the file system, and a
// rename lost to a power cut leaves the older version, which recovery
// already handles (a "starting" record is settled by looking for the
// run's processes). That saves an fsync on the path from start to ack.
func (j *journal) write(r Record, newEntry bool) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(j.dir, r.CmdID+".json"), data, newEntry)
}

// prune forgets records the server has fully heard about, once old, with
// their run logs and status files.
func (j *journal) prune(olderThan time.Duration) {
	cut := time.Now().Add(-olderThan)
	j.mu.Lock()
	defer j.mu.Unlock()
	for id, r := range j.all {
		if r.pending() || j.dirty[id] || !r.UpdatedAt.Before(cut) ||
			(r.State != stateEnded && r.State != stateFailed && r.State != stateDone) {
			continue
		}
		if os.Remove(filepath.Join(j.dir, id+".json")) == nil {
			delete(j.all, id)
			for _, p := range []string{r.LogPath, r.StatusPath} {
				if p != "" {
					os.Remove(p)
				}
			}
		}
	}
}
