package agent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/argus-exec/argus/server/api"
)

// rerun starts a recorded command at most once per command id: the
// journal record is written (and synced) before the process is started, and
// a command id the journal already has is never started again.
func (d *daemon) rerun(c api.Command) {
	log := d.log.With().Str("cmd_id", c.ID).Str("run_id", c.RunID).Logger()
	if _, ok := d.journal.get(c.ID); ok {
		// A redelivery (the ack was lost, or the lease ran out): say again
		// what was done, and do nothing else.
		d.resendAck(c.ID)
		return
	}
	rec := Record{
		CmdID: c.ID, Kind: api.KindRerun, RunID: c.RunID, BatchID: c.BatchID, State: stateStarting,
		LogPath: filepath.Join(d.logDir, safeName(c.RunID)+".log"),
	}
	if err := d.journal.create(rec); err != nil {
		// Not journaled, so not started: the server redelivers later.
		log.Error().Err(err).Msg("cannot journal the command; not starting it")
		return
	}
	fault("after-journal")
	cmd, err := d.start(c, rec.LogPath)
	if err != nil {
		log.Warn().Err(err).Msg("run could not start")
		d.record(c.ID, func(r *Record) { r.State = stateFailed; r.Ack = &api.AckRequest{Error: err.Error()} })
		return
	}
	pid := cmd.Process.Pid
	ticks, _ := startTime(pid)
	now := time.Now().UTC()
	d.mu.Lock()
	d.children[c.RunID] = true
	d.mu.Unlock()
	d.record(c.ID, func(r *Record) {
		r.State, r.PID, r.PGID, r.StartTicks, r.StartedAt = stateRunning, pid, pid, ticks, now
		r.Ack = &api.AckRequest{PID: pid, StartedAt: &now}
	})
	log.Info().Int("pid", pid).Msg("run started")
	fault("after-spawn")
	go d.waitChild(cmd, c.ID, c.RunID)
}

// start launches the command in a new session, in the recorded cwd, with
// the recorded environment (minus tokens), output to the run's log file.
func (d *daemon) start(c api.Command, logPath string) (*exec.Cmd, error) {
	spec := c.Rerun
	if spec == nil || spec.Command.IsZero() {
		return nil, errors.New("the command carries nothing to run")
	}
	if st, err := os.Stat(spec.Cwd); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("working directory %q does not exist on this host", spec.Cwd)
	}
	env := runEnv(spec.Env, c.RunID, c.BatchID, d.cfg.Properties)
	argv, cmdLine := spec.Command.Argv, ""
	if len(argv) == 0 {
		argv, cmdLine = shellCommand(spec.Command.Shell, env)
	}
	path, err := lookPath(argv[0], env)
	if err != nil {
		return nil, err
	}
	out, err := openLog(logPath)
	if err != nil {
		return nil, fmt.Errorf("open run log: %w", err)
	}
	defer out.Close() // the child holds its own descriptor
	cmd := &exec.Cmd{Path: path, Args: argv, Dir: spec.Cwd, Env: env, Stdout: out, Stderr: out}
	// Output goes to a file, not a pipe, so no copy goroutine can hang
	// Wait; WaitDelay bounds it anyway should that ever change.
	cmd.WaitDelay = 5 * time.Second
	if err := prepareRun(cmd, cmdLine); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	if err := afterStart(cmd, c.RunID); err != nil {
		// A run that Stop could not end as a whole is not left running.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, err
	}
	return cmd, nil
}

// lookPath resolves a bare command name against the run's own PATH, not
// the agent's: the recorded environment is what the command ran with.
// (Windows also tries the recorded PATHEXT extensions; see exec_*.go.)
func lookPath(name string, env []string) (string, error) {
	if strings.ContainsAny(name, pathSeparators) {
		return name, nil
	}
	pathVar, _ := lookupEnv(env, "PATH", envFold)
	for _, dir := range filepath.SplitList(pathVar) {
		if dir == "" {
			dir = "."
		}
		for _, p := range exeCandidates(filepath.Join(dir, name), env) {
			if st, err := os.Stat(p); err == nil && !st.IsDir() && isExecutable(st) {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("%s: command not found in the recorded PATH", name)
}

// waitChild reaps a run this agent started and records how it ended.
func (d *daemon) waitChild(cmd *exec.Cmd, cmdID, runID string) {
	_ = cmd.Wait() // the exit status is in ProcessState
	d.mu.Lock()
	delete(d.children, runID)
	d.mu.Unlock()
	exit := api.ExitReport{EndedAt: time.Now().UTC()}
	if cmd.ProcessState != nil {
		exit.ExitCode, exit.Signal = exitOf(cmd.ProcessState)
	}
	if exit.ExitCode == nil && exit.Signal == "" {
		exit.Unknown = true
	}
	d.finish(cmdID, exit)
}

// finish records a run's end with its output tail and queues the report.
func (d *daemon) finish(cmdID string, exit api.ExitReport) {
	rec, _ := d.journal.get(cmdID)
	exit.OutputTail = outputTail(rec.LogPath, api.MaxOutputTail)
	d.record(cmdID, func(r *Record) { r.State = stateEnded; r.Exit = &exit })
	d.log.Info().Str("run_id", rec.RunID).Interface("exit_code", exit.ExitCode).Str("signal", exit.Signal).
		Bool("unknown", exit.Unknown).Msg("run ended")
}

// record updates a journal record and wakes the outbox. A failed write is
// logged: the process state is what it is, and recovery re-derives it.
func (d *daemon) record(cmdID string, fn func(*Record)) {
	if _, err := d.journal.update(cmdID, fn); err != nil {
		d.log.Error().Err(err).Str("cmd_id", cmdID).Msg("journal write failed")
	}
	d.kickOutbox()
}

// resendAck makes the outbox send a command's ack again.
func (d *daemon) resendAck(cmdID string) {
	d.record(cmdID, func(r *Record) {
		if r.Ack != nil {
			r.AckSent = false
		}
	})
}

// outputTail reads the last max bytes of a run's log.
func outputTail(path string, max int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > max {
		if _, err := f.Seek(-max, io.SeekEnd); err != nil {
			return ""
		}
	}
	data, _ := io.ReadAll(io.LimitReader(f, max))
	return string(data)
}

func safeName(id string) string {
	if safeID.MatchString(id) {
		return id
	}
	return fmt.Sprintf("run-%x", id)
}
