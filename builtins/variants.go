package builtins

import (
	"context"
	"fmt"
	"slices"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/runtime"
)

// setVariants reads variants = {"name": {...keys of machine()...}}: other
// configurations of the machine, each its own with the keys it gives
// (only those that change without a new boot: runtime.SwitchableKeys).
func setVariants(s *runtime.Spec, v starlark.Value) error {
	items, err := dictItems(v, "variant names to dicts of machine() keys")
	if err != nil {
		return err
	}
	s.Variants = nil
	for _, it := range items {
		name := string(it[0].(starlark.String))
		if name == "" {
			return fmt.Errorf("a variant needs a name")
		}
		keys, err := dictItems(it[1], "machine() keys")
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, kv := range keys {
			k := string(kv[0].(starlark.String))
			if !slices.Contains(runtime.SwitchableKeys, k) {
				return variantKeyError(name, k)
			}
			var scratch runtime.Spec
			if err := lookupKey(k).set(&scratch, kv[1]); err != nil {
				return fmt.Errorf("%s: %s: %w", name, k, err)
			}
		}
		s.Variants = append(s.Variants, runtime.Variant{Name: name, Apply: func(vs *runtime.Spec) error {
			for _, kv := range keys {
				k := string(kv[0].(starlark.String))
				if err := lookupKey(k).set(vs, kv[1]); err != nil {
					return fmt.Errorf("%s: %w", k, err)
				}
			}
			return nil
		}})
	}
	return nil
}

// variantKeyError says why a variant may not give key k.
func variantKeyError(variant, k string) error {
	if lookupKey(k) != nil {
		return fmt.Errorf("%s: %s cannot change on a running machine (it needs a new boot); a variant may give %v", variant, k, runtime.SwitchableKeys)
	}
	msg := fmt.Sprintf("%s: unknown key %q", variant, k)
	if s := lang.Suggest(k, runtime.SwitchableKeys); s != "" {
		msg += " (did you mean " + s + "?)"
	}
	return fmt.Errorf("%s", msg)
}

// switch(variant=None, timeout=300) reconfigures the running machine to
// one of its variants, or to its own configuration (no variant), and
// returns what changed: a dict of lists (written, removed, stopped,
// started, restarted, reloaded, kept).
func (m *Machine) switchTo(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name starlark.Value = starlark.None
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "variant?", &name, "timeout?", &timeout); err != nil {
		return nil, err
	}
	variant := ""
	if name != starlark.None {
		s, ok := starlark.AsString(name)
		if !ok || s == "" {
			return nil, fmt.Errorf("%s: for parameter variant: want a variant's name, or None for the machine's own configuration, got %s", b.Name(), name.Type())
		}
		variant = s
	}
	var rep runtime.SwitchReport
	err := m.do(thread, b, timeout, func(ctx context.Context, rm *runtime.Machine) (err error) {
		rep, err = rm.Switch(ctx, variant)
		return err
	})
	if err != nil {
		return nil, err
	}
	var written []string
	for _, f := range rep.Write {
		written = append(written, f.Path)
	}
	d := starlark.NewDict(7)
	for _, kv := range []struct {
		k string
		v []string
	}{{"written", written}, {"removed", rep.Remove}, {"stopped", rep.Stop}, {"started", rep.Start},
		{"restarted", rep.Restart}, {"reloaded", rep.Reload}, {"kept", rep.Kept}} {
		l := make([]starlark.Value, len(kv.v))
		for i, s := range kv.v {
			l[i] = starlark.String(s)
		}
		d.SetKey(starlark.String(kv.k), starlark.NewList(l))
	}
	return d, nil
}
