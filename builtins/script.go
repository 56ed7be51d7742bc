package builtins

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/runtime"
)

// Options configure a Script.
type Options struct {
	// NewThread returns a thread, and its release function, on which to
	// run a config function when a machine's computed attribute is read
	// where no thread is at hand (m.config at top level reads through
	// Starlark's attribute protocol, which passes none). nil: a bare
	// thread with neither print nor load.
	NewThread func() (*starlark.Thread, func())
}

// Script is the builtins' state for one run of one test file: the
// declared machines, their resolution, and the network they become.
type Script struct {
	net   *runtime.Network
	opts  Options
	probe starlark.Value

	decls  []*decl
	byName map[string]*decl
	// fixedBy says what fixed the set of machine names ("" while
	// machines may still be declared).
	fixedBy   string
	defined   bool // net.Define was called
	defineErr error
	resolving []*decl       // config functions running, outermost first
	step      *runtime.Step // the subtest running, if any
}

// New returns the builtins of one run on net.
func New(net *runtime.Network, opts Options) *Script {
	return &Script{net: net, opts: opts, probe: newProbe(), byName: map[string]*decl{}}
}

// Globals returns the predeclared names of a script: the lang.Config
// Predeclared of the run's Loader.
func (s *Script) Globals() starlark.StringDict {
	return starlark.StringDict{
		"machine":   starlark.NewBuiltin("machine", s.machine),
		"machines":  starlark.NewBuiltin("machines", s.machines),
		"start_all": starlark.NewBuiltin("start_all", s.startAll),
		"subtest":   starlark.NewBuiltin("subtest", s.subtest),
		"retry":     starlark.NewBuiltin("retry", s.retry),
		"sleep":     starlark.NewBuiltin("sleep", s.sleep),
		"log":       starlark.NewBuiltin("log", s.log),

		"partition":  starlark.NewBuiltin("partition", s.partition),
		"heal":       starlark.NewBuiltin("heal", s.heal),
		"link":       starlark.NewBuiltin("link", s.link),
		"capture":    starlark.NewBuiltin("capture", s.capture),
		"attach_vde": starlark.NewBuiltin("attach_vde", s.attachVDE),
		"job":        starlark.NewBuiltin("job", s.job),
		"join_all":   starlark.NewBuiltin("join_all", s.joinAll),
		"build":      starlark.NewBuiltin("build", s.build),
	}
}

// Finish fixes the network if no action did, running every config
// function on thread so that their errors surface even in a file that
// only declares. Call it after the main module ran without error.
func (s *Script) Finish(thread *starlark.Thread) error {
	s.fix("the end of the file")
	return s.define(thread)
}

// Packages returns the packages the declared machines need, sorted, once
// the network is defined (after Finish or an action).
func (s *Script) Packages() []string {
	var specs []runtime.Spec
	for _, d := range s.decls {
		if d.state == resolved {
			specs = append(specs, d.spec)
		}
	}
	return runtime.AllPackages(specs)
}

// Machines returns the names of the declared machines, in order.
func (s *Script) Machines() []string {
	var names []string
	for _, d := range s.decls {
		names = append(names, d.name)
	}
	return names
}

// A decl is one declared machine and its resolution.
type decl struct {
	name   string
	pos    string                    // where it was declared
	static map[string]starlark.Value // checked keyword arguments
	fn     starlark.Callable         // config function, or nil

	state  resolveState
	err    error          // when failed
	spec   runtime.Spec   // when resolved
	config *starlark.Dict // when resolved: every key, frozen
	handle *Machine
}

type resolveState int

const (
	unresolved resolveState = iota
	resolving
	resolved
	failed
)

// fix records that the set of machine names is now fixed, by what.
func (s *Script) fix(what string) {
	if s.fixedBy == "" {
		s.fixedBy = what
	}
}

// define fixes the network at the first action: it resolves every
// machine and gives the specs to the runtime. Later calls return the
// first result.
func (s *Script) define(thread *starlark.Thread) error {
	if s.defined {
		return s.defineErr
	}
	if len(s.resolving) > 0 {
		return fmt.Errorf("a config function (of %s) must not start or use machines; it returns a dict", s.resolving[len(s.resolving)-1].name)
	}
	s.fix("the first action, at " + callerPos(thread))
	var specs []runtime.Spec
	for _, d := range s.decls {
		if err := s.resolve(thread, d); err != nil {
			return err
		}
		specs = append(specs, d.spec)
	}
	s.defined = true
	s.defineErr = s.net.Define(lang.Context(thread), specs)
	return s.defineErr
}

// resolve computes d's configuration, running its config function on
// thread if it has one. A function that (through nodes) needs the config
// of a machine whose function is running is a cycle, reported with the
// chain of machines.
func (s *Script) resolve(thread *starlark.Thread, d *decl) error {
	switch d.state {
	case resolved:
		return nil
	case failed:
		return d.err
	case resolving:
		var chain []string
		for _, r := range s.resolving[slices.Index(s.resolving, d):] {
			chain = append(chain, r.name)
		}
		return fmt.Errorf("config cycle: %s -> %s (each machine's config function needs the next one's config)", strings.Join(chain, " -> "), d.name)
	}
	if d.fn != nil {
		s.fix("the config function of " + d.name)
	}
	d.state = resolving
	s.resolving = append(s.resolving, d)
	err := s.compute(thread, d)
	s.resolving = s.resolving[:len(s.resolving)-1]
	if err != nil {
		d.state, d.err = failed, err
		return err
	}
	d.state = resolved
	return nil
}

// compute merges d's keyword arguments with what its config function
// returns and makes the spec.
func (s *Script) compute(thread *starlark.Thread, d *decl) error {
	values := maps.Clone(d.static)
	if d.fn != nil {
		if thread == nil {
			return fmt.Errorf("internal error: no thread to run the config function of %s", d.name)
		}
		v, err := starlark.Call(thread, d.fn, starlark.Tuple{&nodes{s: s, thread: thread}}, nil)
		if err != nil {
			return err
		}
		what := fmt.Sprintf("machine %q: config function %s", d.name, describeFn(d.fn))
		items, err := dictItems(v, "config keys")
		if err != nil {
			return fmt.Errorf("%s returned %s, want a dict of config keys", what, v.Type())
		}
		for _, it := range items {
			k := string(it[0].(starlark.String))
			if err := checkKey(what, k, func(name string, known []string) error {
				return unexpectedKey(what+" returned", name, known...)
			}); err != nil {
				return err
			}
			if _, dup := values[k]; dup {
				return fmt.Errorf("%s returned %s, which is also given as a keyword argument of machine(); give it once", what, k)
			}
			var scratch runtime.Spec
			if err := lookupKey(k).set(&scratch, it[1]); err != nil {
				return fmt.Errorf("%s returned %s: %w", what, k, err)
			}
			values[k] = it[1]
		}
	}
	spec := runtime.NewSpec(d.name)
	cfg := starlark.NewDict(len(configKeys))
	for _, k := range configKeys {
		k := *lookupKey(k.name)
		v, ok := values[k.name]
		if !ok {
			v = k.deflt()
		} else if err := k.set(&spec, v); err != nil {
			return fmt.Errorf("machine %q: %s: %w", d.name, k.name, err)
		}
		cfg.SetKey(starlark.String(k.name), v)
	}
	if err := finishJobs(&spec); err != nil {
		return fmt.Errorf("machine %q (declared at %s): %w", d.name, d.pos, err)
	}
	cfg.Freeze()
	d.spec, d.config = spec, cfg
	return nil
}

// describeFn names a config function for messages: "db_config (at
// file:line:col)".
func describeFn(fn starlark.Callable) string {
	if f, ok := fn.(*starlark.Function); ok {
		return fmt.Sprintf("%s (at %s)", f.Name(), f.Position())
	}
	return fn.Name()
}

// callerPos returns the position of the innermost Starlark code (not a
// builtin) calling the current builtin.
func callerPos(thread *starlark.Thread) string {
	if thread == nil {
		return "?"
	}
	for depth := 1; depth < thread.CallStackDepth(); depth++ {
		if pos := thread.CallFrame(depth).Pos; pos.Filename() != "<builtin>" {
			return pos.String()
		}
	}
	return "?"
}

// withThread runs f on a thread from Options.NewThread, for reads that
// come with none.
func (s *Script) withThread(f func(thread *starlark.Thread) error) error {
	if s.opts.NewThread == nil {
		return f(&starlark.Thread{Name: "config"})
	}
	thread, release := s.opts.NewThread()
	defer release()
	return f(thread)
}
