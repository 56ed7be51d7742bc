//go:build linux

package agent

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/vm/wire"
)

// Restarts: the pause before a restart starts at restartMin and doubles
// up to restartMax; it goes back to restartMin after a start that stayed
// up for startWindow. A job started startBurst times within startWindow
// is not restarted again: it fails.
const (
	restartMin  = 100 * time.Millisecond
	restartMax  = 5 * time.Second
	startWindow = 10 * time.Second
	startBurst  = 5
)

// settle is how long a simple job without readiness conditions must stay
// up to count as ready: a program that exits at once (a bad option, a
// missing file) then fails the wait for it instead of passing it.
const settle = time.Second

// defaultStopTimeout is a job's grace period between its stop signal and
// SIGKILL.
const defaultStopTimeout = 5 * time.Second

// killWait bounds the wait for a job's processes to go after SIGKILL.
const killWait = 3 * time.Second

// job is one declared job and its state. One goroutine (loop) runs it;
// start and stop ask that goroutine, status reads the state.
type job struct {
	sup    *Supervisor
	spec   wire.Job
	after  []*job // the jobs it starts after
	before []*job // the jobs that start after it
	out    jobOutput
	wake   chan struct{} // buffered: a start was asked for

	mu        sync.Mutex
	state     string
	err, exit string
	pid       int
	starts    int
	busy      bool // a run was asked for and has not ended (its processes are gone)
	stopping  bool // a stop was asked for during the current run
	again     bool // a start was asked for during the stop: run again after it
	cancelRun context.CancelFunc
	changed   chan struct{} // closed (and replaced) at every change
}

// outcome is how one start of a job ended.
type outcome struct {
	stopped  bool // on request
	failed   bool
	startErr bool // the program could not even be started: no restart helps
	msg      string
	upFor    time.Duration // how long it had been ready
}

// start asks for a run unless one is under way (or, during a stop, for
// another run after it). The job is waiting from now on.
func (j *job) start() {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case j.busy && j.stopping:
		j.again = true
	case !j.busy:
		j.busy, j.stopping, j.again = true, false, false
		j.state = wire.JobWaiting
		j.notifyLocked()
		select {
		case j.wake <- struct{}{}:
		default:
		}
	}
}

// started reports whether a run was asked for and has not ended.
func (j *job) started() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.busy
}

// stop ends the current run, if any, and waits until its processes are
// gone or ctx is done.
func (j *job) stop(ctx context.Context) error {
	j.mu.Lock()
	j.again = false
	if j.busy {
		j.stopping = true
		if j.cancelRun != nil {
			j.cancelRun()
		}
	}
	j.mu.Unlock()
	for {
		j.mu.Lock()
		busy, changed := j.busy, j.changed
		j.mu.Unlock()
		if !busy {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("job %s did not stop in time: %w", j.spec.Name, ctx.Err())
		}
	}
}

// loop runs the job each time a start is asked for, until ctx is done.
func (j *job) loop(ctx context.Context) {
	defer j.sup.wg.Done()
	for {
		select {
		case <-ctx.Done():
			j.mu.Lock()
			j.busy = false
			j.notifyLocked()
			j.mu.Unlock()
			return
		case <-j.wake:
		}
		for {
			j.mu.Lock()
			if j.stopping || ctx.Err() != nil {
				// Stopped before the run began.
				j.busy, j.stopping = false, false
				j.state = wire.JobStopped
				j.notifyLocked()
				j.mu.Unlock()
				break
			}
			runCtx, cancel := context.WithCancel(ctx)
			j.cancelRun = cancel
			j.mu.Unlock()
			j.run(runCtx)
			cancel()
			j.mu.Lock()
			j.cancelRun = nil
			if j.again {
				j.again, j.stopping = false, false
				j.state = wire.JobWaiting
				j.notifyLocked()
				j.mu.Unlock()
				continue
			}
			j.busy, j.stopping = false, false
			j.notifyLocked()
			j.mu.Unlock()
			break
		}
	}
}

func (j *job) notifyLocked() {
	close(j.changed)
	j.changed = make(chan struct{})
}

// setState records a state change, reports it to the host and, for a
// failure, on the console.
func (j *job) setState(state, msg string) {
	j.mu.Lock()
	j.state = state
	switch state {
	case wire.JobStarting:
		j.err, j.exit, j.pid = "", "", 0
	case wire.JobFailed, wire.JobSkipped, wire.JobRestarting:
		j.err = msg
	}
	if state != wire.JobStarting && state != wire.JobRunning && state != wire.JobStopping {
		j.pidLocked(0)
	}
	j.notifyLocked()
	j.mu.Unlock()
	switch state {
	case wire.JobFailed:
		j.sup.logf("job %s failed: %s", j.spec.Name, msg)
	case wire.JobRestarting:
		j.sup.logf("job %s: %s; restarting", j.spec.Name, msg)
	case wire.JobSkipped:
		j.sup.logf("job %s skipped: %s", j.spec.Name, msg)
	}
	switch state {
	case wire.JobRunning, wire.JobDone, wire.JobFailed, wire.JobExited, wire.JobRestarting, wire.JobSkipped:
		j.sup.report(j.spec.Name, state, msg)
	}
}

func (j *job) pidLocked(pid int) { j.pid = pid }

func (j *job) setPID(pid int) {
	j.mu.Lock()
	j.pid = pid
	j.mu.Unlock()
}

func (j *job) setExit(how string) {
	j.mu.Lock()
	j.exit = how
	j.mu.Unlock()
}

func (j *job) status() wire.JobStatus {
	st, _ := j.statusAndChange()
	return st
}

// statusAndChange returns the status and a channel closed at the next
// change.
func (j *job) statusAndChange() (wire.JobStatus, <-chan struct{}) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return wire.JobStatus{
		Name: j.spec.Name, State: j.state, PID: j.pid, Starts: j.starts,
		Exit: j.exit, Error: j.err, Output: j.out.tail(),
	}, j.changed
}

// run is one run of the job, from the wait for the jobs it starts after
// to its end: stopped, failed, exited or skipped, with no process left.
func (j *job) run(ctx context.Context) {
	j.setState(wire.JobWaiting, "")
	for _, d := range j.after {
		if err := d.waitDependency(ctx); err != nil {
			if ctx.Err() != nil {
				j.setState(wire.JobStopped, "")
			} else {
				j.setState(wire.JobFailed, err.Error())
			}
			return
		}
	}
	var recent []time.Time
	pause := restartMin
	for {
		if skip, msg := j.checkConditions(); msg != "" {
			if skip {
				j.setState(wire.JobSkipped, msg)
			} else {
				j.setState(wire.JobFailed, msg)
			}
			return
		}
		now := time.Now()
		kept := recent[:0]
		for _, t := range recent {
			if now.Sub(t) < startWindow {
				kept = append(kept, t)
			}
		}
		recent = append(kept, now)
		j.mu.Lock()
		j.starts++
		j.mu.Unlock()

		o := j.attempt(ctx)
		if o.stopped || ctx.Err() != nil {
			j.setState(wire.JobStopped, "")
			return
		}
		restart := false
		switch j.spec.Restart {
		case wire.RestartAlways:
			restart = !o.startErr
		case wire.RestartOnFailure:
			restart = o.failed && !o.startErr
		}
		if !restart {
			if o.failed {
				j.setState(wire.JobFailed, o.msg)
			} else {
				j.setState(wire.JobExited, o.msg)
			}
			return
		}
		if len(recent) >= startBurst {
			j.setState(wire.JobFailed, fmt.Sprintf("%s; started %d times within %s, not restarted again", o.msg, len(recent), startWindow))
			return
		}
		if o.upFor >= startWindow {
			pause = restartMin
		}
		j.setState(wire.JobRestarting, o.msg)
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			j.setState(wire.JobStopped, "")
			return
		}
		pause = min(2*pause, restartMax)
	}
}

// waitDependency waits until j is ready (or skipped: a condition that
// does not hold is no failure) for a job that starts after it.
func (j *job) waitDependency(ctx context.Context) error {
	for {
		st, changed := j.statusAndChange()
		switch st.State {
		case wire.JobRunning, wire.JobDone, wire.JobSkipped:
			return nil
		case wire.JobFailed, wire.JobExited, wire.JobStopped:
			return fmt.Errorf("it starts after job %s, which %s", j.spec.Name, strings.TrimPrefix(describeEnd(st), "job "+j.spec.Name+" "))
		case wire.JobInactive:
			if !j.started() {
				return fmt.Errorf("it starts after job %s, which is not started", j.spec.Name)
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// checkConditions checks the job's conditions: msg says which failed,
// skip whether that skips the job (a Condition) or fails it (an Assert).
func (j *job) checkConditions() (skip bool, msg string) {
	for _, c := range j.spec.Conditions {
		if conditionHolds(c) {
			continue
		}
		what := c.Directive
		if what == "" {
			what = fmt.Sprintf("%s %s", c.Kind, c.Path)
		}
		return !c.Assert, what + " does not hold"
	}
	return false, ""
}

func conditionHolds(c wire.Condition) bool {
	st, err := os.Stat(c.Path)
	var ok bool
	switch c.Kind {
	case "path_exists":
		ok = err == nil
	case "path_is_directory":
		ok = err == nil && st.IsDir()
	case "file_not_empty":
		ok = err == nil && st.Mode().IsRegular() && st.Size() > 0
	case "directory_not_empty":
		if err == nil && st.IsDir() {
			entries, _ := os.ReadDir(c.Path)
			ok = len(entries) > 0
		}
	case "file_is_executable":
		ok = err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
	}
	return ok != c.Negate
}

// starter starts the processes of one start of a job: all in its group,
// with its identity and output.
type starter struct {
	j     *job
	id    *jobIdentity
	grp   procGroup
	sk    *sinks
	extra []string // environment added to every command
}

// spawn starts c and returns its pid and exit channel.
func (s *starter) spawn(c wire.JobCommand, extra ...string) (int, <-chan syscall.WaitStatus, error) {
	path, argv, env, err := commandArgv(c, s.id, append(append([]string(nil), s.extra...), extra...))
	if err != nil {
		return 0, nil, err
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return 0, nil, err
	}
	defer null.Close()
	cred := s.id.cred
	if c.Privileged {
		cred = nil
	}
	attr := &os.ProcAttr{
		Dir:   s.id.dir,
		Env:   env,
		Files: []*os.File{null, s.sk.outW, s.sk.errW},
		Sys:   &syscall.SysProcAttr{Credential: cred},
	}
	s.grp.prepare(attr.Sys)
	pid, exited, err := s.j.sup.reaper.Start(path, argv, attr)
	if err != nil {
		return 0, nil, fmt.Errorf("exec %s: %w", argv[0], unwrapPathError(err))
	}
	s.grp.started(pid)
	return pid, exited, nil
}

// runSync runs c to its end. It fails when c cannot start, when it
// exits with an error it does not ignore, or when ctx is done (then it
// kills c's process group).
func (s *starter) runSync(ctx context.Context, what string, c wire.JobCommand, extra ...string) error {
	pid, exited, err := s.spawn(c, extra...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	select {
	case ws := <-exited:
		if (ws.Exited() && ws.ExitStatus() == 0) || c.IgnoreFailure {
			return nil
		}
		return fmt.Errorf("%s %q %s", what, describeCommand(c), describeWait(ws))
	case <-ctx.Done():
		unix.Kill(-pid, unix.SIGKILL)
		<-exited
		return ctx.Err()
	}
}

// describeWait says how a process ended: "exited with status 3",
// "was killed by SIGSEGV".
func describeWait(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "was killed by " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("exited with status %d", ws.ExitStatus())
}

// exitString is how JobStatus.Exit shows a wait status.
func exitString(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}

// post runs the ExecStartPost commands; ok is false when the start ends
// there, with its outcome.
func (j *job) post(ctx context.Context, s *starter, stopped func() outcome) (outcome, bool) {
	for _, c := range j.spec.Post {
		if err := s.runSync(ctx, "ExecStartPost", c); err != nil {
			if ctx.Err() != nil {
				return stopped(), false
			}
			return outcome{failed: true, msg: err.Error()}, false
		}
	}
	return outcome{}, true
}

// readyCommand runs a readiness command as root, its output discarded,
// and reports whether it succeeded.
func (s *starter) readyCommand(ctx context.Context, shell string) bool {
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer null.Close()
	attr := &os.ProcAttr{Dir: "/", Env: baseEnv("root", "/root"), Files: []*os.File{null, null, null}, Sys: &syscall.SysProcAttr{Setpgid: true}}
	pid, exited, err := s.j.sup.reaper.Start("/bin/sh", []string{"/bin/sh", "-c", shell}, attr)
	if err != nil {
		return false
	}
	select {
	case ws := <-exited:
		return ws.Exited() && ws.ExitStatus() == 0
	case <-ctx.Done():
		unix.Kill(-pid, unix.SIGKILL)
		<-exited
		return false
	}
}

// readPIDFile waits for the job's PID file to name a live process. With
// a cgroup, a group that empties meanwhile means the daemon died.
func (j *job) readPIDFile(ctx context.Context, grp procGroup) (int, error) {
	_, isCgroup := grp.(*cgroup)
	t := time.NewTicker(readyPoll)
	defer t.Stop()
	for {
		if b, err := os.ReadFile(j.spec.PIDFile); err == nil {
			if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p > 0 && unix.Kill(p, 0) == nil {
				return p, nil
			}
		}
		if isCgroup && grp.empty() {
			return 0, fmt.Errorf("its daemon is gone without writing its PID file %s", j.spec.PIDFile)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-t.C:
		}
	}
}

// watchDaemon closes gone when a forking job's daemon is gone: process
// pid, or (pid 0) every process of a cgroup. Without either it never
// closes. It returns when done is closed.
func watchDaemon(pid int, grp procGroup, gone, done chan struct{}) {
	_, isCgroup := grp.(*cgroup)
	if pid == 0 && !isCgroup {
		<-done
		return
	}
	t := time.NewTicker(readyPoll)
	defer t.Stop()
	for {
		if pid != 0 && !processAlive(pid) || pid == 0 && grp.empty() {
			close(gone)
			<-done
			return
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

// processAlive reports whether pid is a process that has not exited (a
// zombie has).
func processAlive(pid int) bool {
	if unix.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err != nil || liveUserProcess(string(b))
}

// terminate stops what is left of a start: with requested (a stop was
// asked for), it runs the job's Stop commands first if the job had become
// ready (active), then it sends the
// stop signal to every process, SIGKILL after the grace period, and runs
// the StopPost commands. Without requested it does nothing when no
// process is left.
func (j *job) terminate(s *starter, mainPID int, requested, active bool) {
	grp := s.grp
	alive := func() bool { return !grp.empty() || mainPID > 0 && processAlive(mainPID) }
	if !requested && !alive() {
		return
	}
	if requested {
		j.setState(wire.JobStopping, "")
	}
	grace := defaultStopTimeout
	if j.spec.StopTimeoutMS > 0 {
		grace = time.Duration(j.spec.StopTimeoutMS) * time.Millisecond
	}
	if requested && active {
		for _, c := range j.spec.Stop {
			ctx, cancel := context.WithTimeout(context.Background(), grace)
			var extra []string
			if mainPID > 0 {
				extra = append(extra, "MAINPID="+strconv.Itoa(mainPID))
			}
			if err := s.runSync(ctx, "ExecStop", c, extra...); err != nil {
				j.sup.logf("job %s: %v", j.spec.Name, err)
			}
			cancel()
		}
	}
	sig := unix.SIGTERM
	if j.spec.StopSignal != "" {
		sig = signalNumber(j.spec.StopSignal)
	}
	signal := func(sig unix.Signal) {
		grp.signal(sig)
		if mainPID > 0 {
			unix.Kill(mainPID, sig)
		}
	}
	signal(sig)
	signal(unix.SIGCONT)
	if !waitGone(alive, grace) {
		j.sup.logf("job %s: still running %s after %s: SIGKILL", j.spec.Name, unix.SignalName(sig), grace)
		signal(unix.SIGKILL)
		waitGone(alive, killWait)
	}
	if requested {
		for _, c := range j.spec.StopPost {
			ctx, cancel := context.WithTimeout(context.Background(), grace)
			if err := s.runSync(ctx, "ExecStopPost", c); err != nil {
				j.sup.logf("job %s: %v", j.spec.Name, err)
			}
			cancel()
		}
	}
}

// waitGone polls alive until it is false or limit passes, and reports
// whether it became false.
func waitGone(alive func() bool, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for alive() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// signalNumber returns the signal called name ("SIGTERM" or "TERM"), or 0.
func signalNumber(name string) unix.Signal {
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	return unix.SignalNum(name)
}

// makeJobDirs makes a job's directories, owned by its user and group.
func makeJobDirs(dirs []wire.JobDir, id *jobIdentity) error {
	for _, d := range dirs {
		mode := d.Mode & 0o7777
		if mode == 0 {
			mode = 0o755
		}
		if err := os.MkdirAll(d.Path, 0o755); err != nil {
			return fmt.Errorf("directory %s: %w", d.Path, unwrapPathError(err))
		}
		if err := os.Chown(d.Path, id.uid, id.gid); err != nil {
			return fmt.Errorf("directory %s: %w", d.Path, unwrapPathError(err))
		}
		if err := unix.Chmod(d.Path, uint32(mode)); err != nil {
			return fmt.Errorf("directory %s: %w", d.Path, err)
		}
	}
	return nil
}

// removeJobDirs removes the directories a job had only while it ran.
func removeJobDirs(dirs []wire.JobDir) {
	for _, d := range dirs {
		if d.Remove {
			os.RemoveAll(d.Path)
		}
	}
}
