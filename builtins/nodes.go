package builtins

import (
	"fmt"
	"slices"
	"strings"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/runtime"
)

// nodes is the argument of a config function: nodes.<name> (or
// nodes["<name>"] for names that are not identifiers) is that machine's
// computed attributes. It runs other config functions on the thread that
// runs the one it was given to.
type nodes struct {
	s      *Script
	thread *starlark.Thread
}

var (
	_ starlark.HasAttrs = (*nodes)(nil)
	_ starlark.Mapping  = (*nodes)(nil)
)

func (n *nodes) String() string        { return "<nodes>" }
func (n *nodes) Type() string          { return "nodes" }
func (n *nodes) Freeze()               {}
func (n *nodes) Truth() starlark.Bool  { return starlark.True }
func (n *nodes) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: nodes") }

func (n *nodes) AttrNames() []string { return slices.Sorted(slices.Values(n.s.Machines())) }

func (n *nodes) Attr(name string) (starlark.Value, error) {
	d, err := n.s.lookup(name)
	if err != nil {
		return nil, err
	}
	return &node{s: n.s, thread: n.thread, d: d}, nil
}

func (n *nodes) Get(k starlark.Value) (starlark.Value, bool, error) {
	name, ok := starlark.AsString(k)
	if !ok {
		return nil, false, fmt.Errorf("nodes: want a machine name, got %s", k.Type())
	}
	v, err := n.Attr(name)
	return v, err == nil, err
}

// lookup returns the machine called name, or an error suggesting the
// nearest declared name.
func (s *Script) lookup(name string) (*decl, error) {
	if d := s.byName[name]; d != nil {
		return d, nil
	}
	names := s.Machines()
	if sug := lang.Suggest(name, names); sug != "" {
		return nil, fmt.Errorf("nodes: no machine %q (did you mean %s?)", name, sug)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("nodes: no machine %q (no machine is declared)", name)
	}
	return nil, fmt.Errorf("nodes: no machine %q (machines: %s)", name, strings.Join(names, ", "))
}

// node is one machine as a config function sees it.
type node struct {
	s      *Script
	thread *starlark.Thread
	d      *decl
}

var _ starlark.HasAttrs = (*node)(nil)

func (n *node) String() string        { return fmt.Sprintf("<node %s>", n.d.name) }
func (n *node) Type() string          { return "node" }
func (n *node) Freeze()               {}
func (n *node) Truth() starlark.Bool  { return starlark.True }
func (n *node) Hash() (uint32, error) { return starlark.String(n.d.name).Hash() }

var nodeAttrs = []string{"config", "hostname", "ip", "ips", "name"}

func (n *node) AttrNames() []string { return nodeAttrs }

func (n *node) Attr(name string) (starlark.Value, error) {
	return n.s.computed(n.thread, n.d, name)
}

// computed returns one of the computed attributes of a machine (see
// nodeAttrs), or (nil, nil) if name is none of them. thread runs config
// functions; nil means to take one from Options.NewThread if needed.
func (s *Script) computed(thread *starlark.Thread, d *decl, name string) (starlark.Value, error) {
	run := func(f func(*starlark.Thread) error) error {
		if thread != nil {
			return f(thread)
		}
		return s.withThread(f)
	}
	switch name {
	case "name", "hostname":
		return starlark.String(d.name), nil
	case "config":
		if d.state != resolved {
			err := run(func(t *starlark.Thread) error { return s.resolve(t, d) })
			if err != nil {
				return nil, err
			}
		}
		return d.config, nil
	case "ip", "ips":
		s.fix(fmt.Sprintf("reading %s.%s", d.name, name))
		spec, err := s.addressing(d, run)
		if err != nil {
			return nil, err
		}
		n := runtime.HostNumbers(s.Machines())[d.name]
		var ips []starlark.Value
		var ip starlark.Value = starlark.None
		for i, v := range spec.VLANs {
			for _, a := range runtime.NICAddrs(v, n, spec.Addresses) {
				if i == 0 && ip == starlark.None && !strings.Contains(a, ":") {
					ip = starlark.String(stripLen(a))
				}
				ips = append(ips, starlark.String(stripLen(a)))
			}
		}
		if name == "ips" {
			l := starlark.NewList(ips)
			l.Freeze()
			return l, nil
		}
		return ip, nil
	}
	return nil, nil
}

// stripLen drops the "/len" of a CIDR address.
func stripLen(cidr string) string {
	a, _, _ := strings.Cut(cidr, "/")
	return a
}
