package builtins

import (
	"context"
	"fmt"
	"time"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/runtime"
	"github.com/vmtest/vmtest/vm/keys"
)

// screenshot(name, timeout=300) writes what the machine's screen shows to
// the output directory as <name>.png and returns that file's path. The
// machine must have a display and be running.
func (m *Machine) screenshot(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "name", &name, "timeout?", &timeout); err != nil {
		return nil, err
	}
	if _, err := runtime.ScreenshotFile(name); err != nil {
		return nil, wrap(b, err)
	}
	var path string
	err := m.do(thread, b, timeout, func(ctx context.Context, rm *runtime.Machine) (err error) {
		path, err = rm.Screenshot(ctx, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	return starlark.String(path), nil
}

// DefaultKeyDelay is the pause after each key of send_keys and
// send_chars unless delay= says otherwise, as in the NixOS test driver.
const DefaultKeyDelay = 0.01

// send_keys(*keys, delay=0.01, timeout=300) presses each key combo in
// turn ("ctrl-alt-delete", "alt-f2", "ret"; see vm/keys). Every name is
// checked before the first key is pressed.
func (m *Machine) sendKeys(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	delay := seconds(DefaultKeyDelay * float64(time.Second))
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), nil, kwargs, "delay?", &delay, "timeout?", &timeout); err != nil {
		return nil, err
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("%s: want at least one key name, such as \"ret\" or \"ctrl-alt-delete\"", b.Name())
	}
	names := make([]string, len(args))
	for i, a := range args {
		s, ok := starlark.AsString(a)
		if !ok {
			return nil, fmt.Errorf("%s: for key %d: want a key name (string), got %s", b.Name(), i+1, a.Type())
		}
		if _, err := keys.Parse(s); err != nil {
			return nil, wrap(b, err)
		}
		names[i] = s
	}
	return starlark.None, m.do(thread, b, timeout, func(ctx context.Context, rm *runtime.Machine) error {
		return rm.SendKeys(ctx, names, delay.duration())
	})
}

// send_chars(text, delay=0.01, timeout=300) types text on a US keyboard
// ("\n" is Return); a character that cannot be typed is an error before
// the first key is pressed.
func (m *Machine) sendChars(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var text string
	delay := seconds(DefaultKeyDelay * float64(time.Second))
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "text", &text, "delay?", &delay, "timeout?", &timeout); err != nil {
		return nil, err
	}
	if _, err := keys.ForText(text); err != nil {
		return nil, wrap(b, err)
	}
	return starlark.None, m.do(thread, b, timeout, func(ctx context.Context, rm *runtime.Machine) error {
		return rm.SendChars(ctx, text, delay.duration())
	})
}
