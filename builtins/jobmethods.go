package builtins

import (
	"context"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/runtime"
)

// unpackJob checks the arguments (name, timeout=300) of the job methods
// and that the machine declares the job (after the first action, as the
// machines are then known).
func (m *Machine) unpackJob(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (string, seconds, error) {
	var name string
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "name", &name, "timeout?", &timeout); err != nil {
		return "", 0, err
	}
	var err error
	rm, err := m.runtime(thread)
	if err != nil {
		return "", 0, wrap(b, err)
	}
	if name, err = rm.CheckJobName(name); err != nil {
		return "", 0, wrap(b, err)
	}
	return name, timeout, nil
}

// wait_for_job(name, timeout=300) waits until the job (or service) is
// running and ready; wait_for_unit is the same.
func (m *Machine) waitForJob(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	name, timeout, err := m.unpackJob(thread, b, args, kwargs)
	if err != nil {
		return nil, err
	}
	return starlark.None, m.do(thread, b, 0, func(ctx context.Context, rm *runtime.Machine) error {
		_, err := rm.WaitForJob(ctx, name, timeout.duration())
		return err
	})
}

// start_job(name, timeout=300) starts the job unless it is starting or
// running; it does not wait for it to be ready.
func (m *Machine) startJob(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	name, timeout, err := m.unpackJob(thread, b, args, kwargs)
	if err != nil {
		return nil, err
	}
	return starlark.None, m.do(thread, b, timeout, func(ctx context.Context, rm *runtime.Machine) error {
		return rm.StartJob(ctx, name)
	})
}

// stop_job(name, timeout=300) stops the job and returns once its
// processes are gone.
func (m *Machine) stopJob(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	name, timeout, err := m.unpackJob(thread, b, args, kwargs)
	if err != nil {
		return nil, err
	}
	return starlark.None, m.do(thread, b, timeout, func(ctx context.Context, rm *runtime.Machine) error {
		return rm.StopJob(ctx, name)
	})
}

// job_status(name, timeout=300) returns what the agent knows of the job, as a dict:
// state, pid, starts, exit, error, output.
func (m *Machine) jobStatus(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	name, timeout, err := m.unpackJob(thread, b, args, kwargs)
	if err != nil {
		return nil, err
	}
	var st runtime.JobStatus
	err = m.do(thread, b, timeout, func(ctx context.Context, rm *runtime.Machine) (err error) {
		st, err = rm.JobStatus(ctx, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	return jobStatusDict(st), nil
}

// jobStatusDict is a job's status as the script sees it.
func jobStatusDict(st runtime.JobStatus) *starlark.Dict {
	d := starlark.NewDict(7)
	output := make([]starlark.Value, len(st.Output))
	for i, l := range st.Output {
		output[i] = starlark.String(l)
	}
	var pid starlark.Value = starlark.None
	if st.PID != 0 {
		pid = starlark.MakeInt(st.PID)
	}
	for _, kv := range []struct {
		k string
		v starlark.Value
	}{
		{"name", starlark.String(st.Name)},
		{"state", starlark.String(st.State)},
		{"pid", pid},
		{"starts", starlark.MakeInt(st.Starts)},
		{"exit", starlark.String(st.Exit)},
		{"error", starlark.String(st.Error)},
		{"output", starlark.NewList(output)},
	} {
		d.SetKey(starlark.String(kv.k), kv.v)
	}
	d.Freeze()
	return d
}
