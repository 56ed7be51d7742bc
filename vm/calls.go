package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/vmtest/vmtest/vm/guest"
	"github.com/vmtest/vmtest/vm/wire"
)

// A Machine is the host-root kind of machine: its guest agent answers the
// calls of package guest over virtio-serial.
var (
	_ guest.Guest = (*Machine)(nil)
	_ guest.Jobs  = (*Machine)(nil)
)

// Exec runs c in the guest (see guest.Guest).
func (m *Machine) Exec(ctx context.Context, c guest.Command) (guest.Status, error) {
	req := wire.Request{Op: wire.OpExec, Shell: c.Shell, Argv: c.Argv, Env: c.Env, Dir: c.Dir, User: c.User, TTY: c.TTY}
	res, err := m.call(ctx, req, c.Stdin, c.Stdout, c.Stderr)
	return guest.Status{Exit: res.Exit, Signal: res.Signal}, err
}

// ReadFile copies the guest file at path to w (see guest.Guest).
func (m *Machine) ReadFile(ctx context.Context, path string, w io.Writer) (fs.FileMode, error) {
	res, err := m.call(ctx, wire.Request{Op: wire.OpReadFile, Path: path}, nil, w, nil)
	return fs.FileMode(res.Mode) & fs.ModePerm, err
}

// WriteFile replaces the guest file at path with r's contents (see
// guest.Guest).
func (m *Machine) WriteFile(ctx context.Context, path string, mode fs.FileMode, r io.Reader) error {
	if r == nil {
		r = eofReader{}
	}
	_, err := m.call(ctx, wire.Request{Op: wire.OpWriteFile, Path: path, Mode: uint32(mode.Perm())}, r, nil, nil)
	return err
}

// eofReader is an empty stdin: a file written with no contents.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// WaitPort waits until a TCP socket listens on port in the guest, or none
// does (see guest.Guest).
func (m *Machine) WaitPort(ctx context.Context, port int, closed bool) error {
	_, err := m.call(ctx, wire.Request{Op: wire.OpWaitPort, Port: port, Closed: closed}, nil, nil, nil)
	return err
}

// WaitFile waits until path exists in the guest (see guest.Guest).
func (m *Machine) WaitFile(ctx context.Context, path string) error {
	_, err := m.call(ctx, wire.Request{Op: wire.OpWaitFile, Path: path}, nil, nil, nil)
	return err
}

// PowerOff asks the agent to power the machine off or reset it (see
// guest.Guest). Shutdown and Reboot also wait for QEMU to stop.
func (m *Machine) PowerOff(ctx context.Context, reboot bool) error {
	op := wire.OpPoweroff
	if reboot {
		op = wire.OpReboot
	}
	_, err := m.call(ctx, wire.Request{Op: op}, nil, nil, nil)
	return err
}

// StartJob starts a declared job (see guest.Jobs).
func (m *Machine) StartJob(ctx context.Context, name string) error {
	_, err := m.call(ctx, wire.Request{Op: wire.OpJobStart, Job: name}, nil, nil, nil)
	return err
}

// StopJob stops a declared job (see guest.Jobs).
func (m *Machine) StopJob(ctx context.Context, name string) error {
	_, err := m.call(ctx, wire.Request{Op: wire.OpJobStop, Job: name}, nil, nil, nil)
	return err
}

// JobStatus returns the status of a declared job (see guest.Jobs).
func (m *Machine) JobStatus(ctx context.Context, name string) (guest.JobStatus, error) {
	return m.jobCall(ctx, wire.Request{Op: wire.OpJobStatus, Job: name})
}

// WaitJob waits until a declared job is ready (see guest.Jobs).
func (m *Machine) WaitJob(ctx context.Context, name string) (guest.JobStatus, error) {
	return m.jobCall(ctx, wire.Request{Op: wire.OpJobWait, Job: name})
}

func (m *Machine) jobCall(ctx context.Context, req wire.Request) (guest.JobStatus, error) {
	res, err := m.call(ctx, req, nil, nil, nil)
	if err != nil {
		return guest.JobStatus{}, err
	}
	if len(res.Jobs) != 1 {
		return guest.JobStatus{}, guest.Failed(req.Op, fmt.Sprintf("the agent sent %d job statuses, want 1", len(res.Jobs)))
	}
	return res.Jobs[0], nil
}

// call sends one request to the running machine's agent (see
// wire.Client.Call) and folds the answer into one error (see package
// guest): this and callOn are the only places where a wire.Result's Error
// becomes a Go error.
func (m *Machine) call(ctx context.Context, req wire.Request, stdin io.Reader, stdout, stderr io.Writer) (wire.Result, error) {
	inst := m.state.running()
	if inst == nil {
		return wire.Result{}, guest.Stopped(req.Op, nil)
	}
	return m.callOn(ctx, inst, req, stdin, stdout, stderr)
}

// callOn is call on the instance inst, which may still be booting.
//
// The deadline is the host's: ctx's. The agent hears of it only as a hint
// (TimeoutMS) and ends the request when the host cancels it.
func (m *Machine) callOn(ctx context.Context, inst *instance, req wire.Request, stdin io.Reader, stdout, stderr io.Writer) (wire.Result, error) {
	if dl, ok := ctx.Deadline(); ok {
		req.TimeoutMS = max(time.Until(dl).Milliseconds(), 1)
	}
	res, err := inst.agent.Call(ctx, req, stdin, stdout, stderr)
	switch {
	case err == nil && res.Error != "":
		e := guest.Failed(req.Op, res.Error)
		if len(res.Jobs) == 1 {
			e.Job = &res.Jobs[0]
		}
		return res, e
	case err == nil:
		return res, nil
	case errors.Is(err, wire.ErrClosed):
		// The machine stopped: wait a moment for QEMU's exit, which says
		// why (a panic, a power off).
		select {
		case <-inst.exited:
		case <-time.After(time.Second):
		}
		return res, guest.Stopped(req.Op, m.bootError(inst, "%s during %s", m.stopReason(inst), req.Op))
	case ctx.Err() != nil:
		return res, guest.Done(ctx, req.Op)
	}
	return res, &guest.Error{Op: req.Op, Err: err}
}
