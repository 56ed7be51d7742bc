package builtins

import (
	"context"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/runtime"
)

// get_screen_text(timeout=300) returns the text on the machine's screen,
// read by OCR on the host (see runtime/ocr). The machine must have a
// display and be running.
func (m *Machine) getScreenText(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "timeout?", &timeout); err != nil {
		return nil, err
	}
	var text string
	err := m.do(thread, b, timeout, func(ctx context.Context, rm *runtime.Machine) (err error) {
		text, err = rm.ScreenText(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return starlark.String(text), nil
}

// wait_for_text(regex, timeout=300) reads the machine's screen about once
// a second until its text matches regex (Go RE2 syntax), and returns that
// text.
func (m *Machine) waitForText(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return m.waitForMatch(thread, b, args, kwargs, (*runtime.Machine).WaitForText)
}
