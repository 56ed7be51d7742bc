package builtins

import (
	"context"
	"fmt"
	"regexp"

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
// machine's X server has a name that regex (Go RE2 syntax) matches, and
// returns that name.
func (m *Machine) waitForWindow(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var pattern string
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "regex", &pattern, "timeout?", &timeout); err != nil {
		return nil, err
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("%s: for parameter regex: %v", b.Name(), err)
	}
	var name string
	err = m.do(thread, b, 0, func(ctx context.Context, rm *runtime.Machine) (err error) {
		name, err = rm.WaitForWindow(ctx, re, timeout.duration())
		return err
	})
	if err != nil {
		return nil, err
	}
	return starlark.String(name), nil
}
