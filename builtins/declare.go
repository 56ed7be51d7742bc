package builtins

import (
	"fmt"
	"strconv"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/runtime"
	"github.com/vmtest/vmtest/vm"
)

// machine(name, config=None, **config_keys) declares a machine and
// returns its handle.
func (s *Script) machine(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	fn, static, err := s.unpackDecl(b.Name(), args, kwargs, 1, &name)
	if err != nil {
		return nil, err
	}
	d, err := s.declare(thread, b.Name(), name, fn, static)
	if err != nil {
		return nil, err
	}
	return d.handle, nil
}

// machines(name, count, config=None, **config_keys) declares count
// identical machines name1..name<count> and returns their handles.
func (s *Script) machines(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var count int
	fn, static, err := s.unpackDecl(b.Name(), args, kwargs, 2, &name, &count)
	if err != nil {
		return nil, err
	}
	if count < 1 || count > runtime.MaxMachines {
		return nil, fmt.Errorf("%s: count = %d, want 1..%d", b.Name(), count, runtime.MaxMachines)
	}
	if err := vm.CheckHostname(name + strconv.Itoa(count)); err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	handles := make([]starlark.Value, count)
	for i := range count {
		d, err := s.declare(thread, b.Name(), name+strconv.Itoa(i+1), fn, static)
		if err != nil {
			return nil, err
		}
		handles[i] = d.handle
	}
	return starlark.NewList(handles), nil
}

// unpackDecl checks the arguments of machine and machines: npos positional
// parameters (name, count) into ptrs, then config= and the config keys.
func (s *Script) unpackDecl(fnname string, args starlark.Tuple, kwargs []starlark.Tuple, npos int, ptrs ...any) (starlark.Callable, map[string]starlark.Value, error) {
	var fn starlark.Value = starlark.None
	static := map[string]starlark.Value{}
	var named []starlark.Tuple
	for _, kv := range kwargs {
		k := string(kv[0].(starlark.String))
		switch {
		case k == "config":
			fn = kv[1]
		case k == "name" || k == "count" && npos == 2:
			named = append(named, kv)
		default:
			if err := checkKey(fnname, k, func(name string, known []string) error {
				if npos == 2 {
					known = append(known, "count")
				}
				return lang.UnexpectedKeyword(fnname, name, append(known, "name"))
			}); err != nil {
				return nil, nil, err
			}
			var scratch runtime.Spec
			if err := lookupKey(k).set(&scratch, kv[1]); err != nil {
				return nil, nil, fmt.Errorf("%s: %s: %w", fnname, k, err)
			}
			static[k] = kv[1]
		}
	}
	pairs := []any{"name", ptrs[0]}
	if npos == 2 {
		pairs = append(pairs, "count", ptrs[1])
	}
	if len(args) > npos {
		return nil, nil, fmt.Errorf("%s: got %d positional arguments, want %d (config keys are keyword arguments)", fnname, len(args), npos)
	}
	if err := starlark.UnpackArgs(fnname, args, named, pairs...); err != nil {
		return nil, nil, err
	}
	if fn == starlark.None {
		return nil, static, nil
	}
	c, ok := fn.(starlark.Callable)
	if !ok {
		return nil, nil, fmt.Errorf("%s: config: want a function of nodes, got %s", fnname, fn.Type())
	}
	if f, ok := c.(*starlark.Function); ok && f.NumParams() == 0 && !f.HasVarargs() {
		return nil, nil, fmt.Errorf("%s: config: the function %s takes no parameters; it is called with one, nodes", fnname, f.Name())
	}
	return c, static, nil
}

// declare adds a machine called name.
func (s *Script) declare(thread *starlark.Thread, fnname, name string, fn starlark.Callable, static map[string]starlark.Value) (*decl, error) {
	if err := vm.CheckHostname(name); err != nil {
		return nil, fmt.Errorf("%s: %w", fnname, err)
	}
	if d, ok, err := s.redeclare(thread, fnname, name); ok {
		return d, err
	}
	if prev := s.byName[name]; prev != nil {
		return nil, fmt.Errorf("%s: duplicate machine name %q (first declared at %s)", fnname, name, prev.pos)
	}
	if s.fixedBy != "" {
		return nil, fmt.Errorf("%s: cannot declare %q: the set of machines was fixed by %s (addresses depend on every name); declare all machines before that", fnname, name, s.fixedBy)
	}
	if len(s.decls) >= runtime.MaxMachines {
		return nil, fmt.Errorf("%s: cannot declare %q: a network has at most %d machines", fnname, name, runtime.MaxMachines)
	}
	for _, v := range static {
		v.Freeze()
	}
	d := &decl{name: name, pos: callerPos(thread), static: static, fn: fn}
	d.handle = &Machine{s: s, d: d}
	s.decls = append(s.decls, d)
	s.byName[name] = d
	return d, nil
}
