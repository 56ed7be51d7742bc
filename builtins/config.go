package builtins

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/runtime"
)

// A configKey is one key of a machine's configuration: how to check its
// value and put it into a runtime.Spec, and its default as a Starlark
// value (for m.config).
type configKey struct {
	name  string
	set   func(s *runtime.Spec, v starlark.Value) error
	deflt func() starlark.Value
}

// configKeys are the keys machine() accepts, besides config.
var configKeys = []configKey{
	{"memory", setMemory, func() starlark.Value { return starlark.MakeInt(runtime.DefaultMemory) }},
	{"cpus", setCPUs, func() starlark.Value { return starlark.MakeInt(runtime.DefaultCPUs) }},
	{"packages", setPackages, emptyList},
	{"files", setFiles, emptyDict},
	{"env", setEnv, emptyDict},
	{"kernel_params", func(s *runtime.Spec, v starlark.Value) (err error) {
		s.KernelParams, err = stringList(v)
		return err
	}, emptyList},
	{"qemu_opts", func(s *runtime.Spec, v starlark.Value) (err error) {
		s.QEMUOpts, err = stringList(v)
		return err
	}, emptyList},
	{"vlans", setVLANs, func() starlark.Value { return starlark.NewList([]starlark.Value{starlark.MakeInt(1)}) }},
	{"coverage", setCoverage, func() starlark.Value { return starlark.False }},
	{"addresses", setAddresses, emptyDict},
	{"forward_ports", setForwardPorts, emptyDict},
	{"internet", setInternet, func() starlark.Value { return starlark.False }},
	{"jobs", setJobs, emptyDict},
	{"users", setUsers, emptyDict},
	{"groups", setGroups, emptyDict},
	{"services", setServices, emptyList},
	{"display", setDisplay, func() starlark.Value { return starlark.False }},
}

// laterKeys are keys of the script API (DESIGN.md) this vmtest does not
// implement yet: an error says so rather than ignoring them.
var laterKeys = []string{"x11"}

func emptyList() starlark.Value { return starlark.NewList(nil) }
func emptyDict() starlark.Value { return starlark.NewDict(0) }

// knownKeys are the names a "did you mean" draws from.
func knownKeys() []string {
	names := []string{"config"}
	for _, k := range configKeys {
		names = append(names, k.name)
	}
	return names
}

func lookupKey(name string) *configKey {
	for i := range configKeys {
		if configKeys[i].name == name {
			return &configKeys[i]
		}
	}
	return nil
}

// checkKey reports why name is not a config key: not supported yet, or
// unknown (the error unknown makes, given the known keys).
func checkKey(fnname, name string, unknown func(name string, known []string) error) error {
	if lookupKey(name) != nil {
		return nil
	}
	if slices.Contains(laterKeys, name) {
		return fmt.Errorf("%s: config key %q is not supported yet by this vmtest (supported: %s)", fnname, name, joinKeys())
	}
	return unknown(name, knownKeys())
}

// unexpectedKey is the error of an unknown key name of a dict, suggesting
// the nearest of known.
func unexpectedKey(what, name string, known ...string) error {
	msg := fmt.Sprintf("%s: unknown key %q", what, name)
	if s := lang.Suggest(name, known); s != "" {
		msg += " (did you mean " + s + "?)"
	} else {
		msg += " (known: " + strings.Join(known, ", ") + ")"
	}
	return errors.New(msg)
}

func joinKeys() string {
	s := ""
	for i, k := range configKeys {
		if i > 0 {
			s += ", "
		}
		s += k.name
	}
	return s
}

func setMemory(s *runtime.Spec, v starlark.Value) error {
	if err := starlark.AsInt(v, &s.Memory); err != nil {
		return fmt.Errorf("want an int (MiB), got %s", v.Type())
	}
	if s.Memory < runtime.MinMemory {
		return fmt.Errorf("%d MiB is too small: a guest needs at least %d", s.Memory, runtime.MinMemory)
	}
	return nil
}

func setCPUs(s *runtime.Spec, v starlark.Value) error {
	if err := starlark.AsInt(v, &s.CPUs); err != nil {
		return fmt.Errorf("want an int, got %s", v.Type())
	}
	if s.CPUs < 1 {
		return fmt.Errorf("want at least 1, got %d", s.CPUs)
	}
	return nil
}

func setPackages(s *runtime.Spec, v starlark.Value) (err error) {
	s.Packages, err = stringList(v)
	for _, p := range s.Packages {
		if p == "" {
			return fmt.Errorf("an empty package name")
		}
	}
	return err
}

func setVLANs(s *runtime.Spec, v starlark.Value) (err error) {
	if s.VLANs, err = intList(v); err != nil {
		return err
	}
	for i, n := range s.VLANs {
		if err := runtime.CheckVLAN(n); err != nil {
			return err
		}
		if slices.Contains(s.VLANs[:i], n) {
			return fmt.Errorf("vlan %d is listed twice", n)
		}
	}
	return nil
}

// dictItems returns a dict's items with string keys, sorted by key.
func dictItems(v starlark.Value, what string) ([]starlark.Tuple, error) {
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("want a dict of %s, got %s", what, v.Type())
	}
	items := d.Items()
	for _, it := range items {
		if _, ok := it[0].(starlark.String); !ok {
			return nil, fmt.Errorf("want a dict of %s, got a %s key", what, it[0].Type())
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i][0].(starlark.String) < items[j][0].(starlark.String) })
	return items, nil
}

func setEnv(s *runtime.Spec, v starlark.Value) error {
	items, err := dictItems(v, "strings")
	if err != nil {
		return err
	}
	s.Env = nil
	for _, it := range items {
		k := string(it[0].(starlark.String))
		val, ok := starlark.AsString(it[1])
		if !ok {
			return fmt.Errorf("%s: want a string, got %s", k, it[1].Type())
		}
		if k == "" || slices.Contains([]rune(k), '=') {
			return fmt.Errorf("%q is not a variable name", k)
		}
		s.Env = append(s.Env, k+"="+val)
	}
	return nil
}

// setDisplay reads display = True: the machine gets a screen (see
// runtime.Spec.Display).
func setDisplay(s *runtime.Spec, v starlark.Value) error {
	b, ok := v.(starlark.Bool)
	if !ok {
		return fmt.Errorf("want True or False, got %s", v.Type())
	}
	s.Display = bool(b)
	return nil
}

// setCoverage reads coverage = True: collect what the machine's
// instrumented programs write (see runtime/coverage).
func setCoverage(s *runtime.Spec, v starlark.Value) error {
	b, ok := v.(starlark.Bool)
	if !ok {
		return fmt.Errorf("want True or False, got %s", v.Type())
	}
	s.Coverage = bool(b)
	return nil
}
