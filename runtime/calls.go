package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vmtest/vmtest/vm/guest"
)

// guestCalls is what the runtime asks of a running machine: the calls of
// package guest, the same for every kind of machine.
type guestCalls interface {
	guest.Guest
	guest.Jobs
}

// guest returns the machine's guest, booting the machine first if need
// be.
func (m *Machine) guest(ctx context.Context) (guestCalls, error) {
	v, err := m.running(ctx)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// withTimeout bounds ctx by timeout, the action's own deadline (0: none).
// Every deadline is the host's (see package guest).
func withTimeout(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout > 0 {
		return context.WithTimeout(ctx, timeout)
	}
	return context.WithCancel(ctx)
}

// callFailed turns the error of a guest call into the *Error a script
// sees; it is the one place that says what a failed call means. ctx is
// the action's context without its own timeout, which is timeout (0:
// none); what is the action, as in "command \"ls\"" or "waiting for file
// /x". The messages:
//
//	<what>: cancelled: <cause>        ctx ended (the run, retry(), Ctrl-C)
//	<what> timed out after <timeout>  the action's own deadline (TimedOut)
//	<what>: <the guest's message>     the guest could not do it
//	<the guest's message>             ... about a job, which it names
//	<what>: <why the machine stopped> it stopped meanwhile
//
// The *Error wraps err, so errors.Is finds guest.ErrTimeout,
// context.Canceled, guest.ErrNotRunning and guest.ErrFailed through it.
func (m *Machine) callFailed(ctx context.Context, err error, what string, timeout time.Duration) *Error {
	var ge *guest.Error
	switch {
	case ctx.Err() != nil:
		return m.errorf(joinCause(err, ctx), "%s: cancelled: %v", what, context.Cause(ctx))
	case errors.Is(err, guest.ErrTimeout) && timeout > 0:
		e := m.errorf(err, "%s timed out after %s", what, timeout)
		e.TimedOut = true
		return e
	case errors.As(err, &ge) && ge.Guest != "" && ge.Job != nil:
		return m.errorf(err, "%s", ge.Guest)
	case errors.As(err, &ge) && ge.Guest != "":
		return m.errorf(err, "%s: %s", what, ge.Guest)
	}
	return m.errorf(err, "%s: %s", what, reason(err))
}

// joinCause is err, with ctx's error added when err does not hold it: a
// call that failed as ctx ended may have failed for another reason first
// (the machine stopped), and errors.Is must still find the cancellation.
func joinCause(err error, ctx context.Context) error {
	if err == nil {
		return ctx.Err()
	}
	if errors.Is(err, ctx.Err()) {
		return err
	}
	return fmt.Errorf("%w (%w)", ctx.Err(), err)
}
