package builtins

import (
	"fmt"
	"slices"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/runtime"
)

// Machine is the script's handle on a declared machine: m.name,
// m.hostname, m.ip, m.ips, m.config and the methods of the script API.
type Machine struct {
	s *Script
	d *decl
}

var (
	_ starlark.Value    = (*Machine)(nil)
	_ starlark.HasAttrs = (*Machine)(nil)
)

func (m *Machine) String() string        { return fmt.Sprintf("<machine %s>", m.d.name) }
func (m *Machine) Type() string          { return "machine" }
func (m *Machine) Freeze()               {} // its state is the runtime's, not Starlark's
func (m *Machine) Truth() starlark.Bool  { return starlark.True }
func (m *Machine) Hash() (uint32, error) { return starlark.String(m.d.name).Hash() }

// methodFunc is the implementation of a method; b.Name() is
// "machine.<method>".
type methodFunc func(m *Machine, thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error)

// methods are the Machine methods, by name.
var methods = map[string]methodFunc{
	"start":                    (*Machine).start,
	"shutdown":                 (*Machine).shutdown,
	"crash":                    (*Machine).crash,
	"reboot":                   (*Machine).reboot,
	"wait_for_shutdown":        (*Machine).waitForShutdown,
	"execute":                  (*Machine).execute,
	"succeed":                  (*Machine).succeed,
	"fail":                     (*Machine).fail,
	"wait_until_succeeds":      (*Machine).waitUntilSucceeds,
	"wait_until_fails":         (*Machine).waitUntilFails,
	"wait_for_open_port":       (*Machine).waitForOpenPort,
	"wait_for_closed_port":     (*Machine).waitForClosedPort,
	"wait_for_file":            (*Machine).waitForFile,
	"wait_for_console_text":    (*Machine).waitForConsoleText,
	"copy_from_host":           (*Machine).copyFromHost,
	"copy_from_vm":             (*Machine).copyFromVM,
	"copy_from_machine":        (*Machine).copyFromVM,
	"copy_from_host_via_shell": (*Machine).copyFromHost,
	"is_up":                    (*Machine).isUp,
	"switch":                   (*Machine).switchTo,
	"sleep":                    (*Machine).sleep,
	"get_window_names":         (*Machine).getWindowNames,
	"get_console_log":          (*Machine).getConsoleLog,
	"send_console":             (*Machine).sendConsole,
	"send_monitor_command":     (*Machine).sendMonitorCommand,
	"wait_for_qmp_event":       (*Machine).waitForQMPEvent,
	"get_tty_text":             (*Machine).getTTYText,
	"wait_until_tty_matches":   (*Machine).waitUntilTTYMatches,
	"dump_tty_contents":        (*Machine).dumpTTYContents,
	"block":                    (*Machine).block,
	"unblock":                  (*Machine).unblock,
	"forward_port":             (*Machine).forwardPort,
	"link":                     (*Machine).link,
	"shell":                    (*Machine).shell,
	"wait_for_job":             (*Machine).waitForJob,
	"wait_for_unit":            (*Machine).waitForJob,
	"start_job":                (*Machine).startJob,
	"stop_job":                 (*Machine).stopJob,
	"job_status":               (*Machine).jobStatus,
	"screenshot":               (*Machine).screenshot,
	"send_keys":                (*Machine).sendKeys,
	"send_key":                 (*Machine).sendKeys,
	"send_chars":               (*Machine).sendChars,
	"get_screen_text":          (*Machine).getScreenText,
	"wait_for_text":            (*Machine).waitForText,
	"wait_for_x":               (*Machine).waitForX,
	"wait_for_window":          (*Machine).waitForWindow,
}

var machineAttrNames = func() []string {
	names := append(slices.Clone(nodeAttrs), "booted")
	for name := range methods {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}()

func (m *Machine) AttrNames() []string { return machineAttrNames }

func (m *Machine) Attr(name string) (starlark.Value, error) {
	if f, ok := methods[name]; ok {
		return starlark.NewBuiltin("machine."+name, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			return f(m, thread, b, args, kwargs)
		}).BindReceiver(m), nil
	}
	if name == "booted" {
		return m.booted(), nil
	}
	v, err := m.s.computed(nil, m.d, name)
	if err != nil {
		return nil, fmt.Errorf("%s.%s: %w", m.d.name, name, err)
	}
	return v, nil // (nil, nil): Starlark reports the missing attribute with a suggestion
}

// runtime returns the runtime machine, defining the network first if this
// is the first action.
func (m *Machine) runtime(thread *starlark.Thread) (*runtime.Machine, error) {
	if err := m.s.define(thread); err != nil {
		return nil, err
	}
	rm := m.s.net.Machine(m.d.name)
	if rm == nil {
		return nil, fmt.Errorf("internal error: machine %s is not in the network", m.d.name)
	}
	return rm, nil
}

// booted is whether the machine is up, as the NixOS driver's attribute;
// reading it boots nothing (before the first action, nothing is up).
func (m *Machine) booted() starlark.Bool {
	if !m.s.defined {
		return starlark.False
	}
	rm := m.s.net.Machine(m.d.name)
	return starlark.Bool(rm != nil && rm.Running())
}
