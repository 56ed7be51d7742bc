package runtime

import (
	"context"
	"fmt"
	"time"

	"github.com/vmtest/vmtest/vm/qmp"
)

// ConsoleLog returns the machine's serial console of the whole run, from
// its first boot on (up to the last 16 MiB), as wait_for_console_text
// searches it; "" before it first booted. It boots nothing.
func (m *Machine) ConsoleLog() string { return m.con.Text() }

// SendConsole types chars on the machine's serial console (its ttyS0),
// booting it first if it is not running.
func (m *Machine) SendConsole(ctx context.Context, chars string) error {
	v, err := m.running(ctx)
	if err != nil {
		return err
	}
	if err := v.SendConsole(ctx, []byte(chars)); err != nil {
		return m.callFailed(ctx, err, "sending to the console", 0)
	}
	return nil
}

// MonitorCommand runs a command of QEMU's human monitor on the machine
// (booting it first if it is not running) and returns its output.
func (m *Machine) MonitorCommand(ctx context.Context, command string) (string, error) {
	v, err := m.running(ctx)
	if err != nil {
		return "", err
	}
	m.net.log.Machinef(m.Name(), "monitor: %s", command)
	out, err := v.MonitorCommand(ctx, command)
	if err != nil {
		return "", m.callFailed(ctx, err, fmt.Sprintf("monitor command %q", command), 0)
	}
	return out, nil
}

// NextQMPEvent returns the next QMP event of the machine's QEMU that no
// earlier call returned, waiting for one until the deadline until of a
// wait of timeout (zero: as long as ctx allows): a wait for a matching
// event calls it once per event. The machine must be running: it boots
// nothing, since the events of a boot are what a test waits for.
func (m *Machine) NextQMPEvent(ctx context.Context, until time.Time, timeout time.Duration) (qmp.Event, error) {
	v := m.current.Load()
	if v == nil {
		return qmp.Event{}, m.errorf(nil, "waiting for a QMP event: the machine is not running; start it first")
	}
	waitCtx, cancel := ctx, context.CancelFunc(func() {})
	if !until.IsZero() {
		waitCtx, cancel = context.WithDeadline(ctx, until)
	}
	defer cancel()
	ev, err := v.NextQMPEvent(waitCtx)
	if err != nil {
		if ctx.Err() == nil && waitCtx.Err() != nil {
			e := m.errorf(err, "no QMP event matched within %s", timeout)
			e.TimedOut = true
			return qmp.Event{}, e
		}
		return qmp.Event{}, m.callFailed(ctx, err, "waiting for a QMP event", 0)
	}
	return ev, nil
}
