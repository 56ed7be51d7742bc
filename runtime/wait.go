package runtime

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/vmtest/vmtest/vm/wire"
)

// WaitForPort waits until a TCP socket listens on port in the guest (with
// closed, until none does), checked by the agent inside the guest.
// timeout 0 waits as long as ctx allows.
func (m *Machine) WaitForPort(ctx context.Context, port int, closed bool, timeout time.Duration) error {
	what := fmt.Sprintf("port %d to open", port)
	if closed {
		what = fmt.Sprintf("port %d to close", port)
	}
	return m.wait(ctx, what, timeout, wire.Request{Op: wire.OpWaitPort, Port: port, Closed: closed})
}

// WaitForFile waits until path exists in the guest.
func (m *Machine) WaitForFile(ctx context.Context, path string, timeout time.Duration) error {
	return m.wait(ctx, "file "+path, timeout, wire.Request{Op: wire.OpWaitFile, Path: path})
}

// wait runs one of the agent's waits, bounded by timeout.
func (m *Machine) wait(ctx context.Context, what string, timeout time.Duration, req wire.Request) error {
	v, err := m.running(ctx)
	if err != nil {
		return err
	}
	m.net.log.Machinef(m.Name(), "waiting for %s", what)
	start := time.Now()
	req.TimeoutMS = timeout.Milliseconds()
	callCtx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, timeout+graceAfterTimeout)
		defer cancel()
	}
	res, err := v.Call(callCtx, req, nil, nil, nil)
	switch {
	case err != nil && ctx.Err() != nil:
		return m.errorf(err, "waiting for %s: cancelled: %v", what, context.Cause(ctx))
	case err != nil:
		return m.errorf(err, "waiting for %s: %s", what, reason(err))
	case res.TimedOut:
		e := m.errorf(nil, "%s did not happen within %s", what, timeout)
		e.TimedOut = true
		return e
	case res.Error != "":
		return m.errorf(errors.New(res.Error), "waiting for %s: %s", what, res.Error)
	}
	m.net.log.Machinef(m.Name(), "%s: done after %s", what, round(time.Since(start)))
	return nil
}

// WaitForConsoleText waits until a line of the machine's console matches
// re and returns that line. The whole console history of the run is
// searched, from the first boot on (see console.Wait); a machine that
// never booted is booted first.
func (m *Machine) WaitForConsoleText(ctx context.Context, re *regexp.Regexp, timeout time.Duration) (string, error) {
	if _, err := m.running(ctx); err != nil {
		return "", err
	}
	m.net.log.Machinef(m.Name(), "waiting for console text /%s/", re)
	waitCtx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	line, err := m.con.Wait(waitCtx, re)
	switch {
	case err != nil && ctx.Err() != nil:
		return "", m.errorf(err, "waiting for console text /%s/: cancelled: %v", re, context.Cause(ctx))
	case err != nil:
		e := m.errorf(nil, "no console line matched /%s/ within %s", re, timeout)
		e.TimedOut = true
		return "", e
	}
	m.net.log.Machinef(m.Name(), "console: %s", line)
	return line, nil
}
