package vm

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vmtest/vmtest/vm/qmp"
)

// SendConsole writes data to the machine's serial console, as if typed on
// it: whatever reads the guest's ttyS0 (a getty, a shell) gets it. It
// returns once QEMU has taken it, or fails when ctx ends first or the
// machine is not running.
func (m *Machine) SendConsole(ctx context.Context, data []byte) error {
	inst := m.state.running()
	if inst == nil {
		return m.notRunning()
	}
	c := inst.console
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Time{}
	}
	c.SetWriteDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.SetWriteDeadline(time.Now()) })
	defer stop()
	if _, err := c.Write(data); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("machine %s: writing to the console: %w", m.cfg.Name, context.Cause(ctx))
		}
		return fmt.Errorf("machine %s: writing to the console: %w", m.cfg.Name, err)
	}
	return nil
}

// MonitorCommand runs a command of QEMU's human monitor (HMP, as "info
// status" or "sendkey ctrl-alt-f2") through QMP's human-monitor-command,
// and returns what the monitor printed.
func (m *Machine) MonitorCommand(ctx context.Context, command string) (string, error) {
	q, err := m.QMP()
	if err != nil {
		return "", err
	}
	raw, err := q.Execute(ctx, "human-monitor-command", map[string]string{"command-line": command})
	if err != nil {
		return "", fmt.Errorf("machine %s: monitor command %q: %w", m.cfg.Name, command, err)
	}
	var out string
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", fmt.Errorf("machine %s: monitor command %q: want a string, got %s", m.cfg.Name, command, raw)
	}
	return out, nil
}

// NextQMPEvent returns the next QMP event QEMU sent the machine's
// connection that no earlier call returned (QMP keeps the last
// qmp.EventBuffer), waiting for one until ctx ends. It fails at once when
// the machine is not running, and when its QEMU exits meanwhile.
func (m *Machine) NextQMPEvent(ctx context.Context) (qmp.Event, error) {
	q, err := m.QMP()
	if err != nil {
		return qmp.Event{}, err
	}
	select {
	case ev, ok := <-q.Events():
		if !ok {
			return qmp.Event{}, m.notRunning()
		}
		return ev, nil
	case <-ctx.Done():
		return qmp.Event{}, context.Cause(ctx)
	}
}
