package runtime

import (
	"context"
	"strings"
	"time"

	"github.com/vmtest/vmtest/vm"
	"github.com/vmtest/vmtest/vm/keys"
)

// SendKeys presses each key combo of names in turn (see keys.Parse:
// "ctrl-alt-delete", "alt-f2", "ret"), waiting delay after each. Like
// Screendump it does not boot the machine, and needs a display. It
// returns once the last keys are released, or when ctx is done.
func (m *Machine) SendKeys(ctx context.Context, names []string, delay time.Duration) error {
	combos := make([]keys.Combo, len(names))
	for i, n := range names {
		c, err := keys.Parse(n)
		if err != nil {
			return err
		}
		combos[i] = c
	}
	v, err := m.screen()
	if err != nil {
		return err
	}
	m.net.log.Machinef(m.Name(), "sending keys %s", strings.Join(names, " "))
	return m.press(ctx, v, combos, delay)
}

// SendChars types text on the machine's keyboard, a US layout (see
// keys.ForText: "\n" is Return), waiting delay after each character. A
// character that cannot be typed is an error before any key is pressed.
// Otherwise as SendKeys.
func (m *Machine) SendChars(ctx context.Context, text string, delay time.Duration) error {
	combos, err := keys.ForText(text)
	if err != nil {
		return err
	}
	v, err := m.screen()
	if err != nil {
		return err
	}
	m.net.log.Machinef(m.Name(), "typing %q", text)
	return m.press(ctx, v, combos, delay)
}

// press sends combos to v's keyboard one after the other.
func (m *Machine) press(ctx context.Context, v *vm.Machine, combos []keys.Combo, delay time.Duration) error {
	for i, c := range combos {
		if err := v.SendKey(ctx, c); err != nil {
			if ctx.Err() != nil {
				return m.errorf(context.Cause(ctx), "sending keys: cancelled at key %d of %d (%s): %v", i+1, len(combos), c, context.Cause(ctx))
			}
			return m.errorf(err, "sending key %s: %v", c, vmCause(err))
		}
		if delay > 0 && Pause(ctx, delay) != nil {
			return m.errorf(context.Cause(ctx), "sending keys: cancelled after key %d of %d: %v", i+1, len(combos), context.Cause(ctx))
		}
	}
	return nil
}
