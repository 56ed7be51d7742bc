package vm

import (
	"context"
	"fmt"
	"time"

	"github.com/vmtest/vmtest/vm/keys"
)

// KeyHold is the pause QEMU's send-key makes after each press and each
// release of a combo (its hold-time): a combo of n keys takes 2n of them,
// so a key is held down for n of them, well below the guest's 250 ms
// delay before a held key repeats. Typing then runs at up to 20
// characters a second.
const KeyHold = 25 * time.Millisecond

// SendKey presses the keys of c together on the machine's keyboard (the
// PS/2 keyboard every machine has, which a guest's text consoles and X
// server read) and returns once they are released, 2×len(c)×KeyHold
// later, or when ctx is done (the release still happens: QEMU queues it). c must hold valid names
// (see keys.Parse); QEMU refuses others. It fails if the machine is not
// running.
func (m *Machine) SendKey(ctx context.Context, c keys.Combo) error {
	q, err := m.QMP()
	if err != nil {
		return err
	}
	if err := q.SendKey(ctx, c, KeyHold); err != nil {
		return fmt.Errorf("machine %s: sending key %s: %w", m.cfg.Name, c, err)
	}
	t := time.NewTimer(2 * time.Duration(len(c)) * KeyHold)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
