package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/vm/wire"
)

// JobStatus is what the agent knows of a job (see wire.JobStatus).
type JobStatus = wire.JobStatus

// onEvent logs the agent's job events: a job running, done, restarting,
// failed, exited or skipped.
func (m *Machine) onEvent(ev wire.Event) {
	if ev.Name != "job" {
		return
	}
	if ev.Message != "" {
		m.net.log.Machinef(m.Name(), "job %s %s: %s", ev.Job, ev.State, ev.Message)
	} else {
		m.net.log.Machinef(m.Name(), "job %s %s", ev.Job, ev.State)
	}
}

// jobCall runs one job operation (booting the machine first if need be)
// and turns its failures into an *Error about the job, with its state
// and last output when the agent sent them.
func (m *Machine) jobCall(ctx context.Context, what string, req wire.Request, timeout time.Duration) (wire.Result, error) {
	v, err := m.running(ctx)
	if err != nil {
		return wire.Result{}, err
	}
	callCtx := ctx
	if timeout > 0 {
		req.TimeoutMS = timeout.Milliseconds()
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, timeout+graceAfterTimeout)
		defer cancel()
	}
	res, err := v.Call(callCtx, req, nil, nil, nil)
	fail := func(err error, format string, args ...any) (wire.Result, error) {
		e := m.errorf(err, format, args...)
		e.Job = req.Job
		if len(res.Jobs) == 1 {
			e.JobState, e.JobOutput = res.Jobs[0].State, res.Jobs[0].Output
		}
		e.TimedOut = res.TimedOut
		return res, e
	}
	switch {
	case err != nil && ctx.Err() != nil:
		return fail(err, "%s: cancelled: %v", what, context.Cause(ctx))
	case err != nil && callCtx.Err() != nil:
		return fail(err, "%s: the guest did not answer within %s", what, timeout+graceAfterTimeout)
	case err != nil:
		return fail(err, "%s: %s", what, reason(err))
	case res.Error != "":
		return fail(errors.New(res.Error), "%s", res.Error)
	}
	return res, nil
}

// WaitForJob waits until the job called name is running and ready (or,
// for a one-shot job, done). It fails at once when the job has failed,
// exited, was stopped or skipped, and after timeout (0: no bound); the
// *Error then carries the job's state and last output.
//
// The timeout is kept on the host: a guest's clock may run fast under
// software emulation on a loaded host (its TSC calibrated badly), and a
// wait must not end early because of it.
func (m *Machine) WaitForJob(ctx context.Context, name string, timeout time.Duration) (JobStatus, error) {
	m.net.log.Machinef(m.Name(), "waiting for job %s", name)
	if _, err := m.running(ctx); err != nil { // the timeout is the wait's, not the boot's
		return JobStatus{}, err
	}
	start := time.Now()
	waitCtx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	res, err := m.jobCall(waitCtx, "waiting for job "+name, wire.Request{Op: wire.OpJobWait, Job: name}, 0)
	if err != nil && ctx.Err() == nil && waitCtx.Err() != nil {
		// The timeout: say what the job is doing, with its output.
		e := m.errorf(nil, "job %s is not ready after %s", name, timeout)
		e.Job, e.TimedOut = name, true
		statusCtx, cancel := context.WithTimeout(ctx, graceAfterTimeout)
		defer cancel()
		if st, serr := m.JobStatus(statusCtx, name); serr == nil {
			e.Msg += " (it is " + st.State + ")"
			e.JobState, e.JobOutput = st.State, st.Output
		}
		return JobStatus{}, e
	}
	if err != nil {
		return JobStatus{}, err
	}
	st := res.Jobs[0]
	m.net.log.Machinef(m.Name(), "job %s %s after %s", name, st.State, round(time.Since(start)))
	return st, nil
}

// StartJob starts the job called name unless it is starting or running;
// it does not wait for it to be ready.
func (m *Machine) StartJob(ctx context.Context, name string) error {
	m.net.log.Machinef(m.Name(), "starting job %s", name)
	_, err := m.jobCall(ctx, "starting job "+name, wire.Request{Op: wire.OpJobStart, Job: name}, 0)
	return err
}

// StopJob stops the job called name and returns once none of its
// processes is left (they get SIGTERM, then SIGKILL after the job's grace
// period).
func (m *Machine) StopJob(ctx context.Context, name string) error {
	m.net.log.Machinef(m.Name(), "stopping job %s", name)
	_, err := m.jobCall(ctx, "stopping job "+name, wire.Request{Op: wire.OpJobStop, Job: name}, 0)
	return err
}

// JobStatus returns the status of the job called name.
func (m *Machine) JobStatus(ctx context.Context, name string) (JobStatus, error) {
	res, err := m.jobCall(ctx, "job "+name, wire.Request{Op: wire.OpJobStatus, Job: name}, 0)
	if err != nil {
		return JobStatus{}, err
	}
	if len(res.Jobs) != 1 {
		return JobStatus{}, m.errorf(nil, "job %s: the agent sent %d statuses", name, len(res.Jobs))
	}
	return res.Jobs[0], nil
}

// JobNames returns the names of the machine's declared jobs, in order.
func (m *Machine) JobNames() []string {
	var names []string
	for _, j := range m.spec.Jobs {
		names = append(names, j.Name)
	}
	return names
}

// CheckJobName reports whether the machine declares a job called name
// (".service" may follow it), with the nearest names when not.
func (m *Machine) CheckJobName(name string) (string, error) {
	name = strings.TrimSuffix(name, ".service")
	for _, j := range m.spec.Jobs {
		if j.Name == name {
			return name, nil
		}
	}
	if len(m.spec.Jobs) == 0 {
		return "", fmt.Errorf("%s: no job %s: the machine declares no jobs or services", m.Name(), name)
	}
	if s := lang.Suggest(name, m.JobNames()); s != "" {
		return "", fmt.Errorf("%s: no job %s (did you mean %s?)", m.Name(), name, s)
	}
	return "", fmt.Errorf("%s: no job %s (jobs: %s)", m.Name(), name, strings.Join(m.JobNames(), ", "))
}
