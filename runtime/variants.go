package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/runtime/activate"
	"github.com/vmtest/vmtest/vm/wire"
)

// Variant is another configuration of a machine, which a running machine
// can be switched to (m.switch()): the machine's own with Apply's changes
// (the keys a variant gives).
type Variant struct {
	Name  string
	Apply func(*Spec) error
}

// SwitchableKeys are the keys of machine() a variant may give: what
// changes on a running machine without a new boot.
var SwitchableKeys = []string{"env", "files", "groups", "services", "users"}

// variantSpecs returns the specs of the machine's variants, checked.
func (s *Spec) variantSpecs() ([]Spec, error) {
	var out []Spec
	for _, v := range s.Variants {
		vs := *s
		vs.Variants = nil
		if err := v.Apply(&vs); err != nil {
			return nil, fmt.Errorf("machine %s: variant %s: %w", s.Name, v.Name, err)
		}
		if err := vs.check(); err != nil {
			return nil, fmt.Errorf("variant %s: %w", v.Name, err)
		}
		out = append(out, vs)
	}
	return out, nil
}

// activation is what a spec puts on its machine, for package activate:
// the boot's files and its services as units.
func activation(s Spec, common []wire.File, root string) (activate.Config, error) {
	files, err := s.bootFiles(root)
	if err != nil {
		return activate.Config{}, err
	}
	c := activate.Config{Files: append(slices.Clone(common), files...)}
	for _, svc := range s.Services {
		c.Units = append(c.Units, ServiceName(svc)+".service")
	}
	return c, nil
}

// SwitchReport says what a switch did.
type SwitchReport = activate.Plan

// Switch reconfigures the running machine (booting it first if it is not
// running) to its variant name, or to its own configuration with name "",
// as NixOS's switch-to-configuration does: files written and removed,
// users and groups added or dropped, units stopped, started, restarted
// and reloaded. The machine keeps the variant until it is switched again,
// across reboots (see reapplyVariant).
func (m *Machine) Switch(ctx context.Context, name string) (SwitchReport, error) {
	target, ok := m.configs[name]
	if !ok {
		names := slices.Sorted(func(yield func(string) bool) {
			for n := range m.configs {
				if n != "" && !yield(n) {
					return
				}
			}
		})
		msg := fmt.Sprintf("no variant %q", name)
		if s := lang.Suggest(name, names); s != "" {
			msg += " (did you mean " + s + "?)"
		} else if len(names) > 0 {
			msg += " (variants: " + strings.Join(names, ", ") + ")"
		} else {
			msg += ": declare it with variants = {...} in machine()"
		}
		return SwitchReport{}, m.errorf(nil, "%s", msg)
	}
	v, err := m.running(ctx)
	if err != nil {
		return SwitchReport{}, err
	}
	label := name
	if label == "" {
		label = "its own configuration"
	}
	m.net.log.Machinef(m.Name(), "switching to %s", label)
	start := time.Now()
	current, _ := m.variant.Load().(string)
	plan := activate.Make(m.configs[current], target)
	plan = m.restoreHostFiles(plan)
	if err := activate.Apply(ctx, v, plan, m.runsSystemd()); err != nil {
		return SwitchReport{}, m.callFailed(ctx, err, "switching to "+label, 0)
	}
	m.variant.Store(name)
	m.net.log.Machinef(m.Name(), "switched to %s after %s: %s", label, round(time.Since(start)), describePlan(plan))
	return plan, nil
}

// runsSystemd reports whether the machine's services are systemd's units,
// which a switch drives with systemctl. Here they are the agent's jobs, so
// a switch whose variants differ in services fails and says why.
func (m *Machine) runsSystemd() bool { return false }

// restoreHostFiles turns the removal of a file the host's root has (the
// old declaration replaced it) into writing the host's back, if any user
// may read it: the guest's root is the host's under the machine's own
// changes.
func (m *Machine) restoreHostFiles(p activate.Plan) activate.Plan {
	root := m.net.opts.HostRoot
	if root == "" {
		root = "/"
	}
	var keep []string
	for _, pth := range p.Remove {
		// Only what any user may read: a guest is not given the host's
		// secrets (/etc/shadow is removed instead).
		st, err := os.Lstat(filepath.Join(root, pth))
		if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o004 == 0 {
			keep = append(keep, pth)
			continue
		}
		data, err := os.ReadFile(filepath.Join(root, pth))
		if err != nil {
			keep = append(keep, pth)
			continue
		}
		p.Write = append(p.Write, wire.File{Path: pth, Mode: uint32(st.Mode().Perm()), Data: data})
	}
	p.Remove = keep
	return p
}

// describePlan says what a plan did, for the log.
func describePlan(p activate.Plan) string {
	var parts []string
	add := func(what string, items []string) {
		if len(items) > 0 {
			parts = append(parts, what+" "+strings.Join(items, ", "))
		}
	}
	var written []string
	for _, f := range p.Write {
		written = append(written, f.Path)
	}
	add("wrote", written)
	add("removed", p.Remove)
	add("stopped", p.Stop)
	add("reloaded", p.Reload)
	add("restarted", p.Restart)
	add("started", p.Start)
	add("left running", p.Kept)
	if len(parts) == 0 {
		return "nothing changed"
	}
	return strings.Join(parts, "; ")
}

// defineConfigs computes what the machine's own configuration and each of
// its variants put on it; common are the files every one has (host name,
// hosts).
func (m *Machine) defineConfigs(common []wire.File, root string) error {
	m.variant.Store("")
	own, err := activation(m.spec, common, root)
	if err != nil {
		return err
	}
	m.configs = map[string]activate.Config{"": own}
	specs, err := m.spec.variantSpecs()
	if err != nil {
		return err
	}
	for i, vs := range specs {
		c, err := activation(vs, common, root)
		if err != nil {
			return fmt.Errorf("machine %s: variant %s: %w", m.Name(), m.spec.Variants[i].Name, err)
		}
		m.configs[m.spec.Variants[i].Name] = c
	}
	return nil
}

// reapplyVariant switches a machine that has just booted (with its own
// configuration's files) back to the variant it was switched to, as
// switch-to-configuration switch makes a configuration the one a machine
// boots. Called with the boot lock held, after the boot.
func (m *Machine) reapplyVariant(ctx context.Context) error {
	name, _ := m.variant.Load().(string)
	if name == "" {
		return nil
	}
	plan := m.restoreHostFiles(activate.Make(m.configs[""], m.configs[name]))
	if err := activate.Apply(ctx, m.vm, plan, m.runsSystemd()); err != nil {
		return m.callFailed(ctx, err, "switching back to "+name+" after the boot", 0)
	}
	m.net.log.Machinef(m.Name(), "switched to %s again: %s", name, describePlan(plan))
	return nil
}
