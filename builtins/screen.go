package builtins

import (
	"context"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/runtime"
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
