// Package store says what argus-server persists, once for every storage
// engine: the Store interface, the records it keeps (users, tokens by
// hash, agents, batches and their projects, runs, and commands with their
// delivery state and leases), and the errors its methods return
// (ErrNotFound, ErrExists, ErrConflict, ErrForbidden).
//
// State transitions that must be atomic (queue a rerun with its run, claim
// commands under a lease, apply an ack to its run, record an exit and
// settle the stops still queued for it) are store methods, so each engine
// can make them one transaction. So are the visibility rules that must
// hold inside a query or a transaction: which batches and runs a user may
// see, and that a batch joins another user's project only from one of its
// recipients.
//
// No engine lives here. server/store/sqlstore is the database/sql
// implementation the SQL engines share; server/store/sqlite (embedded, one
// file) and server/store/postgres (several replicas on one database) open
// their databases; server/store/storetest is the conformance suite every
// engine passes. HTTP, authentication and the rest of authorisation are in
// server/, as are batching heartbeats before they reach the store
// (beats.go) and waking held long-polls (the Waker; server/pgwake across
// replicas).
package store

import (
	"context"
	"errors"
	"time"

	"github.com/argus-exec/argus/server/api"
	"github.com/argus-exec/argus/token"
)

var (
	// ErrNotFound: no such record, or not visible to the caller named in
	// the method's arguments (another agent's command, say).
	ErrNotFound = errors.New("not found")
	// ErrExists: a record with that unique key already exists.
	ErrExists = errors.New("already exists")
	// ErrConflict: the record is not in a state that allows the change.
	ErrConflict = errors.New("conflict")
	// ErrForbidden: the user may not write to that project.
	ErrForbidden = errors.New("forbidden")
	// ErrStarting: the run's agent has been told to start it (see
	// StartCommand), so it can no longer be cancelled, and cannot be
	// stopped before its PID is known.
	ErrStarting = errors.New("starting")
)

// Store is everything argus-server persists. Every method is safe for
// concurrent use; every write is atomic.
type Store interface {
	CreateUser(ctx context.Context, u User) error // ErrExists on a taken name
	UserByName(ctx context.Context, name string) (User, error)
	UserByID(ctx context.Context, id string) (User, error)
	// EndSessions ends every web session of the user signed in before at
	// (sign-out); the cut-off never moves backwards. ErrNotFound for an
	// unknown user.
	EndSessions(ctx context.Context, userID string, at time.Time) error

	CreateToken(ctx context.Context, t Token) error
	TokenByHash(ctx context.Context, hash string) (Token, error)
	// RevokeToken revokes by token id or by token hash. Revoking a revoked
	// token is not an error and keeps the first revocation time.
	RevokeToken(ctx context.Context, idOrHash string, at time.Time) (Token, error)
	// TouchTokens records when tokens were last used, in one transaction:
	// a time older than the stored one leaves it as it is (replicas and
	// write-behind may write out of order); unknown ids are skipped.
	TouchTokens(ctx context.Context, used map[string]time.Time) error
	// ListTokens returns every token of the user (theirs and their
	// agents'), revoked ones too, oldest first.
	ListTokens(ctx context.Context, userID string) ([]Token, error)

	// RegisterAgent stores the agent and its token in one transaction.
	RegisterAgent(ctx context.Context, a Agent, t Token) error
	// RotateAgentToken re-registers an existing agent (same id, so its runs
	// stay its own): it updates the host fields of a (hostname, label, os,
	// arch, version, properties), revokes every other token of the agent at
	// at, and stores t, in one transaction. ErrNotFound for an unknown
	// agent. The caller checks that the agent belongs to the user.
	RotateAgentToken(ctx context.Context, a Agent, t Token, at time.Time) error
	Agent(ctx context.Context, id string) (Agent, error)
	// ListAgents returns one page of the user's agents (see Page).
	ListAgents(ctx context.Context, userID string, p Page) (agents []Agent, more bool, err error)
	// AgentsOnHost returns the user's agents on hostname (compared
	// without regard to case), online or not: where a rerun of a batch
	// recorded there may go. An index lookup, whatever the fleet's size.
	AgentsOnHost(ctx context.Context, userID, hostname string) ([]Agent, error)
	// Heartbeat stores the agent's last heartbeat; a time older than the
	// stored one leaves it as it is (replicas may write out of order).
	// ErrNotFound for an unknown agent.
	Heartbeat(ctx context.Context, agentID string, at time.Time) error
	// Heartbeats stores many agents' heartbeats in one transaction, with
	// Heartbeat's rule; unknown agent ids are skipped.
	Heartbeats(ctx context.Context, beats map[string]time.Time) error
	// SaveResources stores agents' latest resource reports (agent id →
	// report) in one transaction; a report older than the stored one
	// changes nothing.
	SaveResources(ctx context.Context, reports map[string]ResourceReport) error
	// Resources returns the stored reports of the given agents; an agent
	// that never reported is absent from the map.
	Resources(ctx context.Context, agentIDs []string) (map[string]ResourceReport, error)
	// AgentOffline records that the agent said goodbye at at (a clean
	// shutdown): it is offline until a heartbeat later than at. A later
	// time than the stored one replaces it. ErrNotFound for an unknown
	// agent.
	AgentOffline(ctx context.Context, agentID string, at time.Time) error

	// CreateBatch stores a batch. A project that does not exist yet is
	// created, owned by the batch's owner; a project owned by someone else
	// accepts batches only from its recipients (ErrForbidden otherwise).
	CreateBatch(ctx context.Context, b Batch) error
	Batch(ctx context.Context, id string) (Batch, error)
	// ListBatches returns one page (see Page) of the batches the user owns
	// or whose project is shared with them, or whose project they own.
	ListBatches(ctx context.Context, userID string, f BatchFilter, p Page) (batches []Batch, more bool, err error)
	// BatchRuns says, for each of batchIDs the caller may see, how many
	// runs it has and which is the newest; a batch without runs is absent.
	BatchRuns(ctx context.Context, batchIDs []string) (map[string]BatchRuns, error)
	// HostsWithoutAgent lists, in name order, up to limit origin hosts of
	// the user's own batches on which the user has no agent at all.
	HostsWithoutAgent(ctx context.Context, userID string, limit int) ([]string, error)
	Project(ctx context.Context, name string) (Project, error)
	// AddRecipient shares a project; adding a recipient twice is a no-op.
	AddRecipient(ctx context.Context, project, userID string) error
	// RemoveRecipient unshares a project: ErrNotFound when the project is
	// unknown or userID is not one of its recipients.
	RemoveRecipient(ctx context.Context, project, userID string) error

	// QueueRerun stores a new queued run (with its RequestedBy) and its
	// rerun command together.
	QueueRerun(ctx context.Context, r Run, c Command) error
	// QueueRerunOnce is QueueRerun and, in the same transaction, the
	// record of the request's Idempotency-Key with its answer: ErrExists,
	// nothing queued, when the caller used that key before.
	QueueRerunOnce(ctx context.Context, r Run, c Command, k Idempotency) error
	// SaveIdempotency records an answer under its Idempotency-Key;
	// ErrExists when the key was used before.
	SaveIdempotency(ctx context.Context, k Idempotency) error
	// Idempotency is the answer recorded under the user's key;
	// ErrNotFound when there is none.
	Idempotency(ctx context.Context, userID, key string) (Idempotency, error)
	// PruneIdempotency forgets keys recorded before before, and says how
	// many.
	PruneIdempotency(ctx context.Context, before time.Time) (int, error)
	// QueueStop stores a stop command for a running run and moves the run
	// to stopping; ErrConflict unless the run is running. The run records
	// who asked and why from c.Payload.Stop (StoppedBy, Reason), so the run
	// and the command the agent gets cannot disagree.
	QueueStop(ctx context.Context, runID string, c Command) (Run, error)
	// ClaimCommands hands out up to limit of the agent's commands that are
	// queued, or delivered but unacked with a lease that ended before now,
	// oldest first. Each is marked delivered with a lease until now+lease
	// and its attempt count raised.
	ClaimCommands(ctx context.Context, agentID string, now time.Time, lease time.Duration, limit int) ([]Command, error)
	// ClaimCommandsCapped is ClaimCommands for an agent that runs at most
	// maxRuns runs at once (0: no limit, and the limit it had is
	// forgotten): a rerun not yet delivered is handed out only while fewer
	// than maxRuns of the agent's runs are running, stopping, or on their
	// way (delivered or starting, not yet acked). The limit is stored with
	// the agent (see Waiting), and claims of one agent are serialised on
	// its row, so concurrent claims (replicas) never exceed it. Reruns past
	// their expires_at are expired, never handed out.
	ClaimCommandsCapped(ctx context.Context, agentID string, maxRuns int, now time.Time, lease time.Duration, limit int) ([]Command, error)
	// StartCommand is the agent's last word before it starts a delivered
	// rerun: start is true, and the command becomes starting (no longer
	// cancellable), unless the run was cancelled or has expired (a
	// delivered command past its expires_at is expired here), in which
	// case start is false and the run says which. Repeating it answers
	// the same. ErrNotFound for a command of another agent; ErrConflict
	// for one never delivered or not a rerun.
	StartCommand(ctx context.Context, agentID, cmdID string, now time.Time) (r Run, start bool, err error)
	// CancelRun ends a queued run as cancelled, with its rerun command, at
	// at, so that the command is never delivered again and never started
	// (StartCommand says no). ErrStarting when its agent was already told
	// to start it; ErrConflict when the run is not queued. stoppedBy and
	// reason are kept on the run as a stop's are.
	CancelRun(ctx context.Context, runID, stoppedBy, reason string, at time.Time) (Run, error)
	// ExpireRuns ends as expired every queued run whose rerun command is
	// still queued or delivered (not starting) with an expires_at before
	// now, and returns how many it expired.
	ExpireRuns(ctx context.Context, now time.Time) (int, error)
	// Waiting says where a queued run's rerun stands and how busy its
	// agent is; ErrNotFound for an unknown run.
	Waiting(ctx context.Context, runID string) (Waiting, error)
	// PruneRuns deletes up to limit runs that ended before before, oldest
	// first, with their output and their commands, in one transaction, and
	// says how many of each went. Runs not ended are never touched.
	PruneRuns(ctx context.Context, before time.Time, limit int) (Pruned, error)
	// PruneBatches deletes up to limit batches recorded before before that
	// have no run left, in one transaction, and says how many went.
	PruneBatches(ctx context.Context, before time.Time, limit int) (int, error)
	// Webhooks (notifications of run ends, webhooks.go of package server).
	// CreateWebhook stores a project's hook; Webhooks lists a project's,
	// oldest first; DeleteWebhook removes one with its deliveries
	// (ErrNotFound: no such hook in the project).
	CreateWebhook(ctx context.Context, h Webhook) error
	Webhooks(ctx context.Context, project string) ([]Webhook, error)
	DeleteWebhook(ctx context.Context, project, id string) error
	// ExpandRunEvents turns up to limit runs that ended (each is noted,
	// once, in the transaction that ended it) into deliveries, one per
	// hook of the run's project, whose body body makes; runs of projects
	// without hooks are only taken off the list. It says how many runs it
	// took. Replicas expanding at once take different runs.
	ExpandRunEvents(ctx context.Context, limit int, now time.Time, newID func() string,
		body func(deliveryID string, r Run, b Batch) ([]byte, error)) (int, error)
	// ClaimDeliveries leases up to limit deliveries due at now (pending,
	// next attempt passed, no live lease) for lease, with their hook's
	// URL and secret: no other replica sends them meanwhile.
	ClaimDeliveries(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Delivery, error)
	// FinishAttempt records one attempt of a claimed delivery and ends
	// its lease.
	FinishAttempt(ctx context.Context, id string, a Attempt) error
	// RecentDeliveries is the newest up to perHook deliveries of each hook.
	RecentDeliveries(ctx context.Context, hookIDs []string, perHook int) (map[string][]Delivery, error)
	// PruneDeliveries deletes finished deliveries (delivered or given up)
	// created before before.
	PruneDeliveries(ctx context.Context, before time.Time) (int, error)
	// CommandCounts counts, per agent of agentIDs, its commands not yet
	// acked, by state (queued, delivered, starting); agents with none are
	// absent.
	CommandCounts(ctx context.Context, agentIDs []string) (map[string]map[CommandState]int, error)
	// ReleaseDelivered ends at once the leases of the agent's delivered
	// or starting commands other than holding, so that the next claim
	// hands them out again: the agent started afresh and never journaled
	// them, so it cannot have started them. It says how many it released.
	ReleaseDelivered(ctx context.Context, agentID string, holding []string, now time.Time) (int, error)
	// LookForWork is a long-poll's look, one read that claims nothing:
	// whether any of the agent's commands is claimable at now and, when
	// none is, when the earliest lease of a delivered, unacked one ends.
	LookForWork(ctx context.Context, agentID string, now time.Time) (Outstanding, error)
	// NextLeaseExpiry is when the earliest lease of a delivered, unacked
	// command of the agent ends; ok is false when there is none.
	NextLeaseExpiry(ctx context.Context, agentID string) (at time.Time, ok bool, err error)
	// AckCommand acknowledges one of the agent's commands and applies it to
	// the run (a rerun ack sets the PID and running, or failed on Error).
	// A stop ack with Error puts a stopping run back to running (with Error
	// "stop failed: …" and StopOutcome "failed") so it can be stopped again.
	// A repeated ack changes nothing and returns the command as it was, with
	// duplicate set. ErrNotFound for a command of another agent;
	// ErrConflict, changing nothing, for a command never delivered.
	AckCommand(ctx context.Context, agentID, cmdID string, ack api.AckRequest, at time.Time) (c Command, duplicate bool, err error)
	// ReportExit records a run's end: stopped when a stop was asked for
	// or the report carries a StopReason (kept as the run's), exited
	// otherwise. Stop commands of the run still queued (never
	// delivered) are acked as already_gone in the same transaction, so no
	// agent is ever sent a stop for a process that has ended. Idempotent: a
	// run that has ended keeps its first report. ErrNotFound for a run of
	// another agent; ErrConflict, changing nothing, for a run still queued
	// (its rerun never acked as started).
	ReportExit(ctx context.Context, agentID, runID string, e api.ExitReport) (Run, error)
	Run(ctx context.Context, id string) (Run, error)
	Command(ctx context.Context, id string) (Command, error)
	// ListRunsForUser returns one page (see Page) of the runs of every
	// batch the user may see (ListBatches' rule), narrowed by f.
	ListRunsForUser(ctx context.Context, userID string, f RunFilter, p Page) (runs []Run, more bool, err error)

	// AppendRunLog adds output of a run, from byte offset on, to its log
	// (runlog: see LogSlice) and returns the offset the log wants next.
	// Bytes it has already (offset below that) are skipped, so an agent
	// may resend after a restart. An offset past what it has changes
	// nothing and answers ErrLogGap with the offset it wants. keep is
	// the cap (0: none): past it, whole pieces after the first
	// api.LogHead bytes are dropped, oldest first. ErrNotFound for a run
	// of another agent.
	AppendRunLog(ctx context.Context, agentID, runID string, offset int64, data []byte, keep int64) (next int64, err error)
	// ReadRunLog returns up to max bytes of a run's log from offset on,
	// or from the first kept byte after it when that part was dropped.
	ReadRunLog(ctx context.Context, runID string, offset int64, max int) (LogSlice, error)

	// Stats feeds the metrics: agents with a heartbeat at or after
	// onlineSince, and commands by state.
	Stats(ctx context.Context, onlineSince time.Time) (Stats, error)
	// Ping checks that the store answers, cheaply, for /healthz.
	Ping(ctx context.Context) error
	// ProbeWrite makes one small real write, for /healthz: nil when the
	// database can be written.
	ProbeWrite(ctx context.Context) error
	// Unwritable says err, from any method, means the database cannot be
	// written now (its disk is full, it is read-only, or out of some
	// resource): the server answers 503, not 500, and /healthz says so.
	Unwritable(err error) bool
	Close() error
}

// Page asks for one page of a list. Every paged list is newest first:
// created_at descending, ties broken by id descending. A page holds the
// items strictly after After in that order, at most Limit of them, and more
// reports whether any item follows the last one returned; the caller asks
// for the next page with After set to that item's Key. Resuming from a
// key rather than an offset keeps the pages still to come unchanged when
// items are added meanwhile, and lets the engine seek in an index instead
// of counting rows it skips.
type Page struct {
	Limit int  // at most this many items; must be at least 1
	After *Key // nil: start at the newest
}

// Key is an item's place in a paged list.
type Key struct {
	CreatedAt time.Time
	ID        string
}

// Key is the agent's place in its list: the After of the page after it.
func (a Agent) Key() Key { return Key{CreatedAt: a.CreatedAt, ID: a.ID} }

// Key is the batch's place in its list: the After of the page after it.
func (b Batch) Key() Key { return Key{CreatedAt: b.CreatedAt, ID: b.ID} }

// Key is the run's place in its list: the After of the page after it.
func (r Run) Key() Key { return Key{CreatedAt: r.CreatedAt, ID: r.ID} }

// RunFilter narrows ListRunsForUser; an empty field matches every run, and
// the set fields must all match.
type RunFilter struct {
	Status  api.RunStatus
	BatchID string
	Project string // the name of the run's batch's project
	AgentID string
	Host    string // the run's batch's origin host, where it runs
}

// BatchFilter narrows ListBatches like RunFilter does ListRunsForUser.
type BatchFilter struct {
	Project string
	Host    string // the batch's origin host
}

// BatchRuns is how many runs a batch has and its newest one.
type BatchRuns struct {
	Count int
	Last  Run
}

// User is a person who holds em_live_ tokens.
type User struct {
	ID        string
	Name      string
	CreatedAt time.Time
	// SessionsBefore: web sessions signed in before it are over (zero: none).
	SessionsBefore time.Time
}

// Token is a stored token: its hash, never the token itself. A user token
// has UserID only; an agent token has both UserID (who registered it) and
// AgentID.
type Token struct {
	ID        string
	Hash      string
	Kind      token.Kind
	UserID    string
	AgentID   string
	CreatedAt time.Time
	RevokedAt *time.Time
	// LastUsedAt is when the token last authenticated a request (nil:
	// never), to the minute: see TouchTokens and server/lastused.go.
	LastUsedAt *time.Time
}

// Agent is one registered daemon on one host. LastHeartbeat is zero until
// the first heartbeat. Revoked is computed on read: true when the agent has
// no unrevoked token left, so it can neither poll nor take commands.
type Agent struct {
	ID            string
	UserID        string
	Hostname      string
	Label         string
	OS            string
	Arch          string
	Version       string
	Properties    map[string]string
	CreatedAt     time.Time
	LastHeartbeat time.Time
	Revoked       bool
	// OfflineAt is when the agent last said goodbye (zero: never); it is
	// offline while LastHeartbeat is not after it.
	OfflineAt time.Time
}

// Batch is a recorded training run.
type Batch struct {
	ID        string
	OwnerID   string
	Project   string
	Name      string
	Snapshot  api.EnvSnapshot
	CreatedAt time.Time
}

// Project groups batches; its owner may share it with recipients.
type Project struct {
	Name         string
	OwnerID      string
	RecipientIDs []string
}

// Run is one launch of a batch on an agent.
type Run struct {
	ID          string
	BatchID     string
	AgentID     string
	Status      api.RunStatus
	PID         int
	ExitCode    *int
	Signal      string
	ExitUnknown bool
	// LeftProcesses: processes the run left when its main process ended,
	// which its agent ended (api.Run.LeftProcesses).
	LeftProcesses int
	Error         string
	// OutputTail is the last output as the run wrote it: any bytes (NUL,
	// invalid UTF-8), stored as a BLOB/BYTEA, never as text.
	OutputTail  string
	RerunCmdID  string
	StopCmdID   string
	StopOutcome string
	CreatedAt   time.Time
	StartedAt   *time.Time
	EndedAt     *time.Time

	// Accountability, by user name (names never change). RequestedBy: who
	// asked for the rerun. StoppedBy and StopReason: who asked for the
	// run's latest stop and why, set when that stop is queued and kept
	// whatever its outcome (StopOutcome says what happened); a system stop
	// (api.StopReasonTimeout) has a reason and no StoppedBy.
	RequestedBy string
	StoppedBy   string
	StopReason  string
	// Timeout is the rerun's timeout (0: none).
	Timeout time.Duration
}

// LogSlice is a stretch of a run's log. A run's log is every byte the
// agent read from the run's output, in order, at fixed offsets; what the
// cap dropped leaves a gap in the offsets, never a shift.
type LogSlice struct {
	Start int64 // offset of Data's first byte
	Data  []byte
	// Received is how many bytes of output the server has received (the
	// offset after the newest); Size, once the run's exit is reported by
	// an agent that streams, how many it will receive in all.
	Received int64
	Size     *int64
	// Ended: the run has ended (its status, read with the log).
	Ended bool
}

// Next is the offset after the slice: where a reader goes on.
func (l LogSlice) Next() int64 { return l.Start + int64(len(l.Data)) }

// ErrLogGap: an append started past the end of what the log has.
var ErrLogGap = errors.New("log append leaves a gap")

// Idempotency is a request made with an Idempotency-Key, and its answer,
// which a repeat of the request with the same key gets again instead of
// acting twice.
type Idempotency struct {
	UserID, Key string
	// Request says what the key was used for ("rerun bat_… …"): the same
	// key with another request is refused, not answered.
	Request   string
	Status    int
	Response  []byte // the answer's JSON body
	CreatedAt time.Time
}

// Outstanding is what Store.LookForWork reports: Claimable, or else the
// earliest lease end (LeaseEnd, when HasLease).
type Outstanding struct {
	Claimable bool
	HasLease  bool
	LeaseEnd  time.Time
}

// Waiting is what Store.Waiting reports about a queued run.
type Waiting struct {
	CmdState  CommandState // of the run's rerun command
	ExpiresAt *time.Time   // nil: it never expires
	Busy      int          // the agent's runs running, stopping or on their way
	MaxRuns   int          // the agent's limit as it last claimed (0: none)
}

// CommandState is where a command is in its delivery.
type CommandState string

const (
	CmdQueued    CommandState = "queued"
	CmdDelivered CommandState = "delivered"
	CmdAcked     CommandState = "acked"
	// A rerun the agent said it is starting (StartCommand): past the point
	// where it can be cancelled, and redelivered like delivered.
	CmdStarting CommandState = "starting"
	// Reruns that will never be delivered again or started.
	CmdCancelled CommandState = "cancelled"
	CmdExpired   CommandState = "expired"
)

// Command is one unit of work for one agent. Payload is the api.Command
// delivered to the agent, fixed when the command is queued.
type Command struct {
	ID          string
	AgentID     string
	RunID       string
	Kind        string
	Payload     api.Command
	State       CommandState
	Attempts    int
	CreatedAt   time.Time
	DeliveredAt *time.Time
	LeaseUntil  *time.Time
	AckedAt     *time.Time
	Ack         *api.AckRequest
}

// Stats is a snapshot for the metrics endpoint.
type Stats struct {
	AgentsOnline    int
	CommandsByState map[CommandState]int
}

// ResourceReport is an agent's last report of its host (api.Resources as
// JSON, kept as the server checked it) and when it arrived.
type ResourceReport struct {
	Report []byte
	At     time.Time
}

// Pruned is what one PruneRuns took away.
type Pruned struct {
	Runs, Commands, LogPieces int
}

// Webhook is a project's hook: where run ends are POSTed, and the secret
// their signature is keyed with (kept as given: a signature needs it).
type Webhook struct {
	ID, Project, URL, Secret string
	CreatedBy                string // user id
	CreatedAt                time.Time
}

// DeliveryState is where a delivery is.
type DeliveryState string

const (
	DeliveryPending   DeliveryState = "pending"
	DeliveryDelivered DeliveryState = "delivered"
	DeliveryFailed    DeliveryState = "failed" // given up after the retry window
)

// Delivery is one event for one hook, with its fixed body (every attempt
// sends the same bytes, and so the same signature and delivery id).
type Delivery struct {
	ID, HookID, Event string
	Body              []byte
	State             DeliveryState
	Attempts          int
	NextAt            time.Time
	LastStatus        int    // HTTP status of the last attempt; 0: no answer
	LastError         string // why the last attempt failed; "" when it did not
	CreatedAt         time.Time
	DeliveredAt       *time.Time
	// URL and Secret are the hook's, filled in by ClaimDeliveries.
	URL, Secret string
}

// Attempt is the outcome of one try: State is Delivered, Failed (given
// up) or Pending with NextAt the next try.
type Attempt struct {
	At     time.Time
	State  DeliveryState
	NextAt time.Time
	Status int
	Error  string
}
