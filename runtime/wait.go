package runtime

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/vmtest/vmtest/vm/guest"
)

// WaitForPort waits until a TCP socket listens on port in the guest (with
// closed, until none does), checked by the agent inside the guest.
// timeout 0 waits as long as ctx allows.
func (m *Machine) WaitForPort(ctx context.Context, port int, closed bool, timeout time.Duration) error {
	what := fmt.Sprintf("port %d to open", port)
	if closed {
		what = fmt.Sprintf("port %d to close", port)
	}
	return m.wait(ctx, what, timeout, func(ctx context.Context, g guestCalls) error { return g.WaitPort(ctx, port, closed) })
}

// WaitForFile waits until path exists in the guest.
func (m *Machine) WaitForFile(ctx context.Context, path string, timeout time.Duration) error {
	return m.wait(ctx, "file "+path, timeout, func(ctx context.Context, g guestCalls) error { return g.WaitFile(ctx, path) })
}

// wait runs one of the guest's waits, bounded by timeout (0: by ctx
// alone).
func (m *Machine) wait(ctx context.Context, what string, timeout time.Duration, call func(context.Context, guestCalls) error) error {
	g, err := m.guest(ctx)
	if err != nil {
		return err
	}
	m.net.log.Machinef(m.Name(), "waiting for %s", what)
	start := time.Now()
	callCtx, cancel := withTimeout(ctx, timeout)
	defer cancel()
	if err := call(callCtx, g); err != nil {
		return m.callFailed(ctx, err, "waiting for "+what, timeout)
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
		return "", m.callFailed(ctx, err, fmt.Sprintf("waiting for console text /%s/", re), timeout)
	case err != nil:
		e := m.errorf(guest.ErrTimeout, "no console line matched /%s/ within %s", re, timeout)
		e.TimedOut = true
		return "", e
	}
	m.net.log.Machinef(m.Name(), "console: %s", line)
	return line, nil
}
