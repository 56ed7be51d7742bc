package builtins

import (
	"fmt"
	"net/netip"
	"strings"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/runtime"
	"github.com/vmtest/vmtest/vm/wire"
)

// setSysctls reads sysctls = {"net.ipv4.ip_forward": 1, ...}: kernel
// parameters set at every boot before the interfaces come up, in the
// order given.
func setSysctls(s *runtime.Spec, v starlark.Value) error {
	d, ok := v.(*starlark.Dict)
	if !ok {
		return fmt.Errorf(`want a dict of kernel parameter to value, such as {"net.ipv4.ip_forward": 1}, got %s`, v.Type())
	}
	s.Sysctls = nil
	for _, it := range d.Items() {
		name, ok := starlark.AsString(it[0])
		if !ok {
			return fmt.Errorf("want a dict of kernel parameter to value, got a %s key", it[0].Type())
		}
		var val string
		switch x := it[1].(type) {
		case starlark.Int:
			val = x.String()
		case starlark.Bool:
			val = "0"
			if x {
				val = "1"
			}
		case starlark.String:
			val = string(x)
		default:
			return fmt.Errorf("%s: want an int or a string, got %s", name, it[1].Type())
		}
		if strings.ContainsAny(val, "\n\x00") {
			return fmt.Errorf("%s: the value has a newline or NUL byte", name)
		}
		s.Sysctls = append(s.Sysctls, wire.Sysctl{Name: name, Value: val})
	}
	return nil
}

// setMTU reads mtu = {vlan: 1400}: the MTU of the machine's NIC on each
// vlan (the vlans are checked with the whole spec).
func setMTU(s *runtime.Spec, v starlark.Value) error {
	d, ok := v.(*starlark.Dict)
	if !ok {
		return fmt.Errorf("want a dict of vlan to MTU, such as {1: 1400}, got %s", v.Type())
	}
	s.MTU = nil
	for _, it := range d.Items() {
		var vlan, mtu int
		if err := starlark.AsInt(it[0], &vlan); err != nil {
			return fmt.Errorf("want a dict of vlan to MTU, got a %s key", it[0].Type())
		}
		if err := starlark.AsInt(it[1], &mtu); err != nil {
			return fmt.Errorf("vlan %d: want an MTU (int), got %s", vlan, it[1].Type())
		}
		if mtu < runtime.MinMTU || mtu > runtime.MaxMTU {
			return fmt.Errorf("vlan %d: MTU %d is out of range %d..%d", vlan, mtu, runtime.MinMTU, runtime.MaxMTU)
		}
		if s.MTU == nil {
			s.MTU = map[int]int{}
		}
		s.MTU[vlan] = mtu
	}
	return nil
}

// setGateway reads gateway = "10.0.1.1" or ["10.0.1.1", "fd00:1::1"]:
// the machine's default gateways, one per family at most (None: none).
func setGateway(s *runtime.Spec, v starlark.Value) error {
	var gws []string
	if v == starlark.None {
		s.Gateways = nil
		return nil
	}
	if g, ok := starlark.AsString(v); ok {
		gws = []string{g}
	} else if l, err := stringList(v); err == nil {
		gws = l
	} else {
		return fmt.Errorf(`want an address, or a list of an IPv4 and an IPv6 address, such as "10.1.1.1", got %s`, v.Type())
	}
	var have4, have6 bool
	for _, g := range gws {
		a, err := netip.ParseAddr(g)
		if err != nil || a.Zone() != "" {
			return fmt.Errorf("%q is not an address such as 10.1.1.1 or fd00:1::1", g)
		}
		if a.Is4() && have4 || a.Is6() && have6 {
			return fmt.Errorf("two gateways of one family (%s): a machine has one default route per family", strings.Join(gws, ", "))
		}
		have4, have6 = have4 || a.Is4(), have6 || a.Is6()
	}
	s.Gateways = gws
	return nil
}

// routeKeys are the keys of a route's dict.
var routeKeys = []string{"to", "via"}

// setRoutes reads routes = [{"to": "10.1.2.0/24", "via": "10.1.1.1"}, ...]:
// routes added at every boot once the interfaces are up; "to" may be
// "default".
func setRoutes(s *runtime.Spec, v starlark.Value) error {
	seq, ok := v.(starlark.Indexable)
	if !ok || v.Type() != "list" && v.Type() != "tuple" {
		return fmt.Errorf(`want a list of routes such as {"to": "10.1.2.0/24", "via": "10.1.1.1"}, got %s`, v.Type())
	}
	s.Routes = nil
	for i := range seq.Len() {
		r, err := route(seq.Index(i))
		if err != nil {
			return fmt.Errorf("route %d: %w", i+1, err)
		}
		if err := runtime.CheckRoute(r); err != nil {
			return err
		}
		s.Routes = append(s.Routes, r)
	}
	return nil
}

// route reads one route's dict.
func route(v starlark.Value) (wire.Route, error) {
	d, ok := v.(*starlark.Dict)
	if !ok {
		return wire.Route{}, fmt.Errorf(`want a dict such as {"to": "10.1.2.0/24", "via": "10.1.1.1"}, got %s`, v.Type())
	}
	var r wire.Route
	for _, it := range d.Items() {
		k, _ := starlark.AsString(it[0])
		val, ok := starlark.AsString(it[1])
		switch {
		case k != "to" && k != "via":
			return r, unknownKey(k, routeKeys...)
		case !ok:
			return r, fmt.Errorf("%s: want a string, got %s", k, it[1].Type())
		case k == "to":
			r.To = val
		default:
			r.Via = val
		}
	}
	if r.To == "" || r.Via == "" {
		return r, fmt.Errorf(`want both "to" and "via"`)
	}
	if r.To == "default" {
		r.To = "0.0.0.0/0"
		if strings.Contains(r.Via, ":") {
			r.To = "::/0"
		}
	}
	return r, nil
}
