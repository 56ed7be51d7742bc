package builtins

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/runtime"
	"github.com/vmtest/vmtest/vm"
	"github.com/vmtest/vmtest/vm/hide"
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
		s.KernelParams, err = argList(v)
		return err
	}, emptyList},
	{"qemu_opts", func(s *runtime.Spec, v starlark.Value) (err error) {
		s.QEMUOpts, err = argList(v)
		return err
	}, emptyList},
	{"hide", pathPatterns(func(s *runtime.Spec) *[]string { return &s.Hide }), emptyList},
	{"share", pathPatterns(func(s *runtime.Spec) *[]string { return &s.Share }), emptyList},
	{"vlans", setVLANs, func() starlark.Value { return starlark.NewList([]starlark.Value{starlark.MakeInt(1)}) }},
	{"coverage", boolKey(func(s *runtime.Spec) *bool { return &s.Coverage }), func() starlark.Value { return starlark.False }},
	{"addresses", setAddresses, emptyDict},
	{"mtu", setMTU, emptyDict},
	{"sysctls", setSysctls, emptyDict},
	{"gateway", setGateway, func() starlark.Value { return starlark.None }},
	{"routes", setRoutes, emptyList},
	{"disks", setDisks, emptyDict},
	{"variants", nil, emptyDict}, // set: setVariants, through lookupKey (it looks keys up itself)
	{"forward_ports", setForwardPorts, emptyDict},
	{"internet", boolKey(func(s *runtime.Spec) *bool { return &s.Internet }), func() starlark.Value { return starlark.False }},
	{"jobs", setJobs, emptyDict},
	{"users", setUsers, emptyDict},
	{"groups", setGroups, emptyDict},
	{"services", setServices, emptyList},
	{"display", boolKey(func(s *runtime.Spec) *bool { return &s.Display }), func() starlark.Value { return starlark.False }},
	{"x11", boolKey(func(s *runtime.Spec) *bool { return &s.X11 }), func() starlark.Value { return starlark.False }},
}

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
			if name == "variants" {
				return &configKey{name: name, set: setVariants, deflt: configKeys[i].deflt}
			}
			return &configKeys[i]
		}
	}
	return nil
}

// checkKey reports why name is not a config key: the error unknown
// makes, given the known keys.
func checkKey(fnname, name string, unknown func(name string, known []string) error) error {
	if lookupKey(name) != nil {
		return nil
	}
	return unknown(name, knownKeys())
}

// unexpectedKey is the error of an unknown key name of a dict, suggesting
// the nearest of known.
func unexpectedKey(what, name string, known ...string) error {
	if what == "" {
		return unknownKey(name, known...)
	}
	return fmt.Errorf("%s: %w", what, unknownKey(name, known...))
}

// unknownKey is the error of an unknown key name of a dict whose place
// the caller names, suggesting the nearest of known.
func unknownKey(name string, known ...string) error {
	msg := fmt.Sprintf("unknown key %q", name)
	if s := lang.Suggest(name, known); s != "" {
		msg += " (did you mean " + s + "?)"
	} else {
		msg += " (known: " + strings.Join(known, ", ") + ")"
	}
	return errors.New(msg)
}

func setMemory(s *runtime.Spec, v starlark.Value) error {
	if err := starlark.AsInt(v, &s.Memory); err != nil {
		return fmt.Errorf("want an int (MiB), got %s", v.Type())
	}
	return runtime.CheckMemory(s.Memory)
}

func setCPUs(s *runtime.Spec, v starlark.Value) error {
	if err := starlark.AsInt(v, &s.CPUs); err != nil {
		return fmt.Errorf("want an int, got %s", v.Type())
	}
	return runtime.CheckCPUs(s.CPUs)
}

// packageName is a Debian package's name, with an architecture or not.
var packageName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?$`)

func setPackages(s *runtime.Spec, v starlark.Value) (err error) {
	if s.Packages, err = stringList(v); err != nil {
		return err
	}
	for _, p := range s.Packages {
		if p == "" {
			return fmt.Errorf("an empty package name")
		}
		if !packageName.MatchString(p) {
			return fmt.Errorf("%q is not a Debian package name (lower-case letters, digits, +, - and ., such as libssl3)", p)
		}
	}
	return nil
}

func setVLANs(s *runtime.Spec, v starlark.Value) (err error) {
	if s.VLANs, err = intList(v); err != nil {
		return err
	}
	if len(s.VLANs) > vm.MaxNICs {
		return fmt.Errorf("%d vlans: a machine has at most %d network interfaces", len(s.VLANs), vm.MaxNICs)
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

// aType is the type of v with its article: "an int", "a string".
func aType(v starlark.Value) string {
	t := v.Type()
	if strings.ContainsRune("aeiou", rune(t[0])) {
		return "an " + t
	}
	return "a " + t
}

// pathPatterns returns the setter of hide or share: a list of path
// patterns of the host root (see package hide) into the field of a spec
// that field returns.
func pathPatterns(field func(*runtime.Spec) *[]string) func(*runtime.Spec, starlark.Value) error {
	return func(s *runtime.Spec, v starlark.Value) error {
		ps, err := stringList(v)
		if err != nil {
			return err
		}
		for _, p := range ps {
			if err := hide.CheckPattern(p); err != nil {
				return err
			}
		}
		*field(s) = ps
		return nil
	}
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
			return nil, fmt.Errorf("want a dict of %s, got %s key", what, aType(it[0]))
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
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fmt.Errorf("%q is not a variable name", k)
		}
		if strings.IndexByte(val, 0) >= 0 {
			return fmt.Errorf("%s: the value %q holds a NUL byte, which no environment can", k, val)
		}
		s.Env = append(s.Env, k+"="+val)
	}
	return nil
}

// boolKey returns the setter of a True-or-False key that sets the field
// of a spec that field returns: display (a screen, runtime.Spec.Display),
// x11 (a screen with an X server, runtime.X11Job), coverage (collect what
// instrumented programs write, runtime/coverage), internet (the user
// network reaches the outside world, runtime.Spec.Internet).
func boolKey(field func(*runtime.Spec) *bool) func(*runtime.Spec, starlark.Value) error {
	return func(s *runtime.Spec, v starlark.Value) error {
		b, ok := v.(starlark.Bool)
		if !ok {
			return fmt.Errorf("want True or False, got %s", v.Type())
		}
		*field(s) = bool(b)
		return nil
	}
}
