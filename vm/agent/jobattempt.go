//go:build linux

package agent

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/vmtest/vmtest/vm/wire"
)

// attemptRun is one start of a job: what its phases share. The phases, in
// order: prepare (identity, directories, process group, output, notify
// socket), the ExecStartPre commands, then either the one-shot commands
// or the main process (startMain), its readiness (awaitReady) and its
// life (live). Each returns, when the start ends there, its outcome.
type attemptRun struct {
	j  *job
	sp *wire.Job
	s  *starter
	ns *notifySocket // of a notify job

	logs      []*logWatch // the Ready conditions on the job's output
	exitReady bool        // ready when the main process exits with status 0

	// From startMain on, processes may be left in the job's group:
	// whatever way the start ends, they are stopped first.
	mainPID  int
	exited   <-chan syscall.WaitStatus // the main process's end (nil for a forking job)
	mainGone <-chan struct{}           // closed when a forking job's daemon is gone
	active   bool                      // it became ready: a stop runs its Stop commands
}

// attempt is one start of the job: its commands, readiness, life and
// end. It returns when no process of the start is left.
func (j *job) attempt(ctx context.Context) outcome {
	j.setState(wire.JobStarting, "")
	a, release, err := j.prepareAttempt()
	if err != nil {
		return failed(true, err.Error())
	}
	defer release()
	defer j.terminate(a.s, 0, false, false) // leftovers; a no-op when none
	for _, c := range a.sp.Pre {
		if o, ok := a.runSync(ctx, "ExecStartPre", c); !ok {
			return o
		}
	}
	if a.sp.Type == wire.JobOneshot {
		return a.oneshot(ctx)
	}
	stopWatch, o, ok := a.startMain(ctx)
	defer stopWatch()
	if !ok {
		return o
	}
	if a.exitReady {
		return a.untilExit(ctx)
	}
	if o, ok := a.awaitReady(ctx); !ok {
		return o
	}
	if o, ok := j.post(ctx, a.s, a.stopped); !ok {
		return o
	}
	return a.live(ctx)
}

// failed is the outcome of a start that failed; startErr: the program
// could not even be started.
func failed(startErr bool, msg string) outcome {
	return outcome{failed: true, startErr: startErr, msg: msg}
}

// prepareAttempt sets up what every command of a start needs; release
// undoes it.
func (j *job) prepareAttempt() (a *attemptRun, release func(), err error) {
	sp := &j.spec
	var undo []func()
	release = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	id, err := resolveIdentity(sp)
	if err != nil {
		return nil, nil, err
	}
	if err := makeJobDirs(sp.Dirs, id); err != nil {
		return nil, nil, err
	}
	undo = append(undo, func() { removeJobDirs(sp.Dirs) })
	grp, err := j.sup.newGroup(sp.Name)
	if err != nil {
		return nil, nil, err
	}
	undo = append(undo, grp.release)
	sk, err := openSinks(sp.Name, &j.out, sp.Stdout, sp.Stderr, j.sup.console(), &j.sup.consoleMu)
	if err != nil {
		return nil, nil, err
	}
	undo = append(undo, sk.close)
	a = &attemptRun{j: j, sp: sp, s: &starter{j: j, id: id, grp: grp, sk: sk}}
	undo = append(undo, j.out.unwatch)
	for _, r := range sp.Ready {
		if r.Log != "" {
			a.logs = append(a.logs, j.out.watch(regexp.MustCompile(r.Log)))
		}
		a.exitReady = a.exitReady || r.Exit
	}
	if sp.Type == wire.JobNotify {
		if a.ns, err = newNotifySocket(sp.Name); err != nil {
			return nil, nil, err
		}
		undo = append(undo, func() { a.ns.close() })
		a.s.extra = append(a.s.extra, a.ns.env())
	}
	return a, release, nil
}

// stopped ends a start that was asked to stop: its processes are
// stopped (with its Stop commands if it became ready).
func (a *attemptRun) stopped() outcome {
	a.j.terminate(a.s, a.mainPID, true, a.active)
	return outcome{stopped: true}
}

// runSync runs one of the start's commands to its end; ok is false when
// the start ends there, with its outcome.
func (a *attemptRun) runSync(ctx context.Context, what string, c wire.JobCommand) (outcome, bool) {
	if err := a.s.runSync(ctx, what, c); err != nil {
		if ctx.Err() != nil {
			return a.stopped(), false
		}
		return failed(false, err.Error()), false
	}
	return outcome{}, true
}

// oneshot runs a one-shot job's commands one after the other, then its
// readiness and ExecStartPost; it is then done until stopped.
func (a *attemptRun) oneshot(ctx context.Context) outcome {
	for _, c := range a.sp.Start {
		if o, ok := a.runSync(ctx, "start command", c); !ok {
			return o
		}
	}
	if err := waitReady(ctx, a.sp.Ready, a.logs, a.s.readyCommand); err != nil {
		return a.stopped()
	}
	if o, ok := a.j.post(ctx, a.s, a.stopped); !ok {
		return o
	}
	return a.parkDone(ctx)
}

// parkDone: a one-shot job is done; it stays so until stopped.
func (a *attemptRun) parkDone(ctx context.Context) outcome {
	a.active = true
	a.j.setState(wire.JobDone, "")
	<-ctx.Done()
	return a.stopped()
}

// startMain starts the main process. A forking job's start command must
// exit with status 0, leaving its daemon, which a goroutine then watches
// until stopWatch (always to be called) ends it and waits for it.
func (a *attemptRun) startMain(ctx context.Context) (stopWatch func(), o outcome, ok bool) {
	stopWatch = func() {}
	j, sp := a.j, a.sp
	pid, exited, err := a.s.spawn(sp.Start[0])
	if err != nil {
		return stopWatch, failed(true, err.Error()), false
	}
	j.setPID(pid)
	a.mainPID, a.exited = pid, exited
	if sp.Type != wire.JobForking {
		return stopWatch, outcome{}, true
	}
	select {
	case ws := <-exited:
		if !ws.Exited() || ws.ExitStatus() != 0 {
			j.setExit(exitString(ws))
			return stopWatch, failed(false, fmt.Sprintf("its start command %q %s", describeCommand(sp.Start[0]), describeWait(ws))), false
		}
	case <-ctx.Done():
		return stopWatch, a.stopped(), false
	}
	a.mainPID, a.exited = 0, nil
	j.setPID(0)
	if sp.PIDFile != "" {
		p, err := j.readPIDFile(ctx, a.s.grp)
		if err != nil {
			if ctx.Err() != nil {
				return stopWatch, a.stopped(), false
			}
			return stopWatch, failed(false, err.Error()), false
		}
		a.mainPID = p
		j.setPID(p)
	}
	gone, done := make(chan struct{}), make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Add(1)
	go func() {
		defer watcher.Done()
		watchDaemon(a.mainPID, a.s.grp, gone, done)
	}()
	a.mainGone = gone
	return func() { close(done); watcher.Wait() }, outcome{}, true
}

// untilExit is the life of a job that is ready when its main process
// exits with status 0: it is then done.
func (a *attemptRun) untilExit(ctx context.Context) outcome {
	select {
	case ws := <-a.exited:
		a.j.setExit(exitString(ws))
		if ws.Exited() && ws.ExitStatus() == 0 {
			return a.parkDone(ctx)
		}
		return failed(false, "it "+describeWait(ws))
	case <-ctx.Done():
		return a.stopped()
	}
}

// awaitReady waits for the job to be ready: its type's own readiness,
// then the declared conditions, on a goroutine it ends and waits for
// before it returns, while the main process may end.
func (a *attemptRun) awaitReady(ctx context.Context) (outcome, bool) {
	readyCtx, cancelReady := context.WithCancel(ctx)
	readyErr := make(chan error, 1)
	var readier sync.WaitGroup
	readier.Add(1)
	go func() {
		defer readier.Done()
		readyErr <- a.ready(readyCtx)
	}()
	var (
		err     error
		ws      syscall.WaitStatus
		exited  bool
		gone    bool
		isReady bool
	)
	select {
	case err = <-readyErr:
		isReady = err == nil
	case ws = <-a.exited:
		exited = true
	case <-a.mainGone:
		gone = true
	case <-ctx.Done():
	}
	cancelReady()
	readier.Wait()
	switch {
	case isReady:
		return outcome{}, true
	case exited:
		a.j.setExit(exitString(ws))
		o := outcome{msg: fmt.Sprintf("it %s before it was ready", describeWait(ws))}
		o.failed = !ws.Exited() || ws.ExitStatus() != 0
		return o, false
	case gone:
		return failed(false, "its daemon is gone before it was ready"), false
	}
	return a.stopped(), false
}

// ready returns once the job is ready, or ctx's error: a notify job's
// READY=1, a simple job's settling time when it declares no condition,
// then its Ready conditions.
func (a *attemptRun) ready(ctx context.Context) error {
	if a.ns != nil {
		select {
		case <-a.ns.ready:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if a.sp.Type == wire.JobSimple && len(a.sp.Ready) == 0 {
		t := time.NewTimer(settle)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return waitReady(ctx, a.sp.Ready, a.logs, a.s.readyCommand)
}

// live is the life of a ready job: running until its main process ends
// (or a forking job's daemon is gone), or it is stopped.
func (a *attemptRun) live(ctx context.Context) outcome {
	a.active = true
	a.j.setState(wire.JobRunning, "")
	readyAt := time.Now()
	select {
	case ws := <-a.exited:
		a.j.setExit(exitString(ws))
		o := outcome{upFor: time.Since(readyAt), msg: "it " + describeWait(ws)}
		o.failed = !ws.Exited() || ws.ExitStatus() != 0
		return o
	case <-a.mainGone:
		return outcome{failed: true, upFor: time.Since(readyAt), msg: "its daemon is gone"}
	case <-ctx.Done():
		return a.stopped()
	}
}
