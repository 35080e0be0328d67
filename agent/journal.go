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
	// KilledBy is set when a stop had to SIGKILL the run: what a re-attached
	// run (not the agent's child) is reported to have died of.
	KilledBy string `json:"killed_by,omitempty"`

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
	return (r.Ack != nil && !r.AckSent) || (r.Exit != nil && !r.ExitSent)
}

// safeID keeps server-chosen ids usable as file names.
var safeID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)

// journal is a directory of one JSON file per command, each written
// atomically (temp file, fsync, rename) with mode 0600.
type journal struct {
	dir string
	mu  sync.Mutex
	all map[string]*Record // cmd id → record
}

func openJournal(dir string) (*journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal %s: %w", dir, err)
	}
	j := &journal{dir: dir, all: map[string]*Record{}}
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

// put writes the record through to disk before it counts as journaled.
func (j *journal) put(r Record) error {
	if !safeID.MatchString(r.CmdID) {
		return fmt.Errorf("command id %q cannot be journaled", r.CmdID)
	}
	r.UpdatedAt = time.Now().UTC()
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := writeAtomic(filepath.Join(j.dir, r.CmdID+".json"), data); err != nil {
		return err
	}
	j.all[r.CmdID] = &r
	return nil
}

// update applies fn to the stored record and writes it back.
func (j *journal) update(cmdID string, fn func(*Record)) (Record, error) {
	r, ok := j.get(cmdID)
	if !ok {
		return r, errors.New("no journal record for " + cmdID)
	}
	fn(&r)
	return r, j.put(r)
}

// prune forgets records the server has fully heard about, once old.
func (j *journal) prune(olderThan time.Duration) {
	cut := time.Now().Add(-olderThan)
	j.mu.Lock()
	defer j.mu.Unlock()
	for id, r := range j.all {
		if !r.pending() && r.UpdatedAt.Before(cut) && (r.State == stateEnded || r.State == stateFailed || r.State == stateDone) {
			if os.Remove(filepath.Join(j.dir, id+".json")) == nil {
				delete(j.all, id)
			}
		}
	}
}

func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
