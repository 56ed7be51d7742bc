package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/vm/guest"
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

// jobCall runs one job operation on the machine's guest (booting the
// machine first if need be) and turns its failure into an *Error about
// the job, with its state and last output when the guest sent them.
func (m *Machine) jobCall(ctx context.Context, what, name string, call func(context.Context, guest.Jobs) (JobStatus, error)) (JobStatus, error) {
	g, err := m.guest(ctx)
	if err != nil {
		return JobStatus{}, err
	}
	st, err := call(ctx, g)
	if err != nil {
		e := m.callFailed(ctx, err, what, 0)
		e.Job = name
		var ge *guest.Error
		if errors.As(err, &ge) && ge.Job != nil {
			e.JobState, e.JobOutput = ge.Job.State, ge.Job.Output
		}
		return st, e
	}
	return st, nil
}

// WaitForJob waits until the job called name is running and ready (or,
// for a one-shot job, done). It fails at once when the job has failed,
// exited, was stopped or skipped, and after timeout (0: no bound); the
// *Error then carries the job's state and last output.
func (m *Machine) WaitForJob(ctx context.Context, name string, timeout time.Duration) (JobStatus, error) {
	m.net.log.Machinef(m.Name(), "waiting for job %s", name)
	if _, err := m.running(ctx); err != nil { // the timeout is the wait's, not the boot's
		return JobStatus{}, err
	}
	start := time.Now()
	waitCtx, cancel := withTimeout(ctx, timeout)
	defer cancel()
	st, err := m.jobCall(waitCtx, "waiting for job "+name, name, func(ctx context.Context, g guest.Jobs) (JobStatus, error) { return g.WaitJob(ctx, name) })
	if err != nil && ctx.Err() == nil && waitCtx.Err() != nil {
		// The timeout: say what the job is doing, with its output.
		e := m.errorf(guest.ErrTimeout, "job %s is not ready after %s", name, timeout)
		e.Job, e.TimedOut = name, true
		statusCtx, cancel := context.WithTimeout(ctx, jobStatusTimeout)
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
	m.net.log.Machinef(m.Name(), "job %s %s after %s", name, st.State, round(time.Since(start)))
	return st, nil
}

// jobStatusTimeout bounds the status call that explains a job wait's
// timeout.
const jobStatusTimeout = 10 * time.Second

// StartJob starts the job called name unless it is starting or running;
// it does not wait for it to be ready.
func (m *Machine) StartJob(ctx context.Context, name string) error {
	m.net.log.Machinef(m.Name(), "starting job %s", name)
	_, err := m.jobCall(ctx, "starting job "+name, name, func(ctx context.Context, g guest.Jobs) (JobStatus, error) { return JobStatus{}, g.StartJob(ctx, name) })
	return err
}

// StopJob stops the job called name and returns once none of its
// processes is left (they get SIGTERM, then SIGKILL after the job's grace
// period).
func (m *Machine) StopJob(ctx context.Context, name string) error {
	m.net.log.Machinef(m.Name(), "stopping job %s", name)
	_, err := m.jobCall(ctx, "stopping job "+name, name, func(ctx context.Context, g guest.Jobs) (JobStatus, error) { return JobStatus{}, g.StopJob(ctx, name) })
	return err
}

// JobStatus returns the status of the job called name.
func (m *Machine) JobStatus(ctx context.Context, name string) (JobStatus, error) {
	return m.jobCall(ctx, "job "+name, name, func(ctx context.Context, g guest.Jobs) (JobStatus, error) { return g.JobStatus(ctx, name) })
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
