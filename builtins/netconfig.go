package builtins

import (
	"fmt"
	"sort"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/runtime"
	"github.com/vmtest/vmtest/vm"
)

// setForwardPorts reads forward_ports = {host_port: guest_port}: TCP
// ports of the host's 127.0.0.1 forwarded to the machine.
func setForwardPorts(s *runtime.Spec, v starlark.Value) error {
	d, ok := v.(*starlark.Dict)
	if !ok {
		return fmt.Errorf("want a dict of host port to guest port, such as {8080: 80}, got %s", v.Type())
	}
	s.Forwards = nil
	for _, it := range d.Items() {
		var host, guest int
		if err := starlark.AsInt(it[0], &host); err != nil {
			return fmt.Errorf("want a dict of host port to guest port, got %s key", aType(it[0]))
		}
		if err := starlark.AsInt(it[1], &guest); err != nil {
			return fmt.Errorf("host port %d: want a guest port, got %s", host, it[1].Type())
		}
		if host < 1 || host > 65535 {
			return fmt.Errorf("host port %d is out of range 1..65535", host)
		}
		if guest < 1 || guest > 65535 {
			return fmt.Errorf("host port %d: guest port %d is out of range 1..65535", host, guest)
		}
		s.Forwards = append(s.Forwards, vm.Forward{Host: host, Guest: guest})
	}
	sort.Slice(s.Forwards, func(i, j int) bool { return s.Forwards[i].Host < s.Forwards[j].Host })
	return nil
}

// setAddresses reads addresses = {vlan: address or [addresses]}: the
// machine's addresses on those vlans instead of the computed ones, per
// family. Whether each vlan is one of the machine's is checked with the
// whole spec (runtime.Spec).
func setAddresses(s *runtime.Spec, v starlark.Value) error {
	d, ok := v.(*starlark.Dict)
	if !ok {
		return fmt.Errorf(`want a dict of vlan to address, such as {1: "10.0.0.5/24"}, got %s`, v.Type())
	}
	s.Addresses = nil
	for _, it := range d.Items() {
		var vlan int
		if err := starlark.AsInt(it[0], &vlan); err != nil {
			return fmt.Errorf("want a dict of vlan to address, got %s key", aType(it[0]))
		}
		if err := runtime.CheckVLAN(vlan); err != nil {
			return err
		}
		var addrs []string
		if a, ok := starlark.AsString(it[1]); ok {
			addrs = []string{a}
		} else if l, err := stringList(it[1]); err == nil {
			addrs = l
		} else {
			return fmt.Errorf("vlan %d: want an address or a list of addresses, got %s", vlan, it[1].Type())
		}
		for i, a := range addrs {
			p, err := runtime.ParseAddress(a)
			if err != nil {
				return fmt.Errorf("vlan %d: %w", vlan, err)
			}
			addrs[i] = p.String()
		}
		if s.Addresses == nil {
			s.Addresses = map[int][]string{}
		}
		s.Addresses[vlan] = addrs
	}
	return nil
}

// addressing returns a spec with d's vlans and addresses, which its
// addresses depend on: from the keyword arguments of machine() when they
// give both or there is no config function, otherwise from the resolved
// configuration (running the config function with run).
func (s *Script) addressing(d *decl, run func(func(*starlark.Thread) error) error) (runtime.Spec, error) {
	vlans, haveVLANs := d.static["vlans"]
	addrs, haveAddrs := d.static["addresses"]
	if d.fn != nil && !(haveVLANs && haveAddrs) {
		if err := run(func(t *starlark.Thread) error { return s.resolve(t, d) }); err != nil {
			return runtime.Spec{}, err
		}
		return d.spec, nil
	}
	spec := runtime.NewSpec(d.name)
	if haveVLANs {
		setVLANs(&spec, vlans) // checked by machine()
	}
	if haveAddrs {
		setAddresses(&spec, addrs)
	}
	return spec, nil
}
