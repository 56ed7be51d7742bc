package builtins

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/runtime"
	"github.com/vmtest/vmtest/runtime/hostbuild"
)

// build(name, command, inputs=[], env={}, timeout=300) runs command on the
// host, by /bin/sh -c in the calling file's directory, with $out an empty
// directory it fills; it returns that directory's path, which the
// machines see too. The result is cached by name, command, env and the
// contents of inputs (relative paths are relative to the calling file):
// a step whose inputs have not changed does not run again. It is not an
// action: it boots nothing and may come before the first one.
func (s *Script) build(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name, command string
	var inputs, env starlark.Value = starlark.NewList(nil), starlark.NewDict(0)
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "name", &name, "command", &command, "inputs?", &inputs, "env?", &env, "timeout?", &timeout); err != nil {
		return nil, err
	}
	if name == "" || strings.ContainsAny(name, "/\n\x00") {
		return nil, fmt.Errorf("%s: for parameter name: want a name without / or a newline, got %q", b.Name(), name)
	}
	dir := callerDir(thread)
	step := hostbuild.Step{Name: name, Command: command, Dir: dir}
	in, err := stringList(inputs)
	if err != nil {
		return nil, fmt.Errorf("%s: for parameter inputs: %w", b.Name(), err)
	}
	for _, p := range in {
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		step.Inputs = append(step.Inputs, p)
	}
	var scratch runtime.Spec
	if err := setEnv(&scratch, env); err != nil {
		return nil, fmt.Errorf("%s: for parameter env: %w", b.Name(), err)
	}
	step.Env = scratch.Env
	var out string
	err = s.block(thread, func(ctx context.Context) error {
		ctx, cancel := timeout.bound(ctx)
		defer cancel()
		var err error
		out, err = s.net.Build(ctx, step)
		return err
	})
	if err != nil {
		return nil, wrap(b, err)
	}
	return starlark.String(out), nil
}

// callerDir is the absolute directory of the file that called the
// builtin running on thread; the current directory for the prompt and
// the standard library.
func callerDir(thread *starlark.Thread) string {
	file := thread.CallFrame(1).Pos.Filename()
	dir := "."
	if file != "" && !strings.HasPrefix(file, "@") && !strings.HasPrefix(file, "<") {
		dir = filepath.Dir(file)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	return abs
}
