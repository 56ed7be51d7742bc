package builtins

import (
	"context"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/runtime"
)

// wait_for_x(timeout=300) waits until the machine's X server (x11 = True)
// takes clients, booting the machine if it is not running.
func (m *Machine) waitForX(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "timeout?", &timeout); err != nil {
		return nil, err
	}
	return starlark.None, m.do(thread, b, 0, func(ctx context.Context, rm *runtime.Machine) error {
		return rm.WaitForX(ctx, timeout.duration())
	})
}

// wait_for_window(regex, timeout=300) waits until a window of the
// machine's X server whose name regex (Go RE2 syntax) matches is on the
// screen, and returns that name.
func (m *Machine) waitForWindow(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return m.waitForMatch(thread, b, args, kwargs, (*runtime.Machine).WaitForWindow)
}

// get_window_names(timeout=300) returns the names of the X server's named
// windows, as a list.
func (m *Machine) getWindowNames(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "timeout?", &timeout); err != nil {
		return nil, err
	}
	var names []string
	err := m.do(thread, b, timeout, func(ctx context.Context, rm *runtime.Machine) (err error) {
		names, err = rm.WindowNames(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	l := make([]starlark.Value, len(names))
	for i, n := range names {
		l[i] = starlark.String(n)
	}
	return starlark.NewList(l), nil
}
