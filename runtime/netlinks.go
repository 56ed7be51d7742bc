package runtime

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/vmtest/vmtest/vm"
	"github.com/vmtest/vmtest/vm/wire"
)

// MinMTU and MaxMTU bound a NIC's MTU: IPv6's minimum, and the largest
// frame virtio-net takes.
const (
	MinMTU = 1280
	MaxMTU = 65535
)

// sysctlName is a kernel parameter's name as sysctl(8) writes it.
var sysctlName = regexp.MustCompile(`^[A-Za-z0-9_-]+([./][A-Za-z0-9_-]+)+$`)

// ifaceSysctl matches a parameter of one network interface:
// net.ipv4.conf.eth1.x, net.ipv6.neigh.eth2.x and the like.
var ifaceSysctl = regexp.MustCompile(`^net[./]ipv[46][./](conf|neigh)[./](eth[0-9]+)[./]`)

// checkLinks reports what is wrong with the MTUs, sysctls and routes of
// s on its own.
func (s *Spec) checkLinks() error {
	for vlan, mtu := range s.MTU {
		if !slices.Contains(s.VLANs, vlan) {
			return fmt.Errorf("machine %s: mtu: vlan %d is not one of its vlans %v", s.Name, vlan, s.VLANs)
		}
		if mtu < MinMTU || mtu > MaxMTU {
			return fmt.Errorf("machine %s: mtu: vlan %d: %d is out of range %d..%d", s.Name, vlan, mtu, MinMTU, MaxMTU)
		}
	}
	for _, c := range s.Sysctls {
		if err := s.checkSysctl(c.Name); err != nil {
			return fmt.Errorf("machine %s: sysctls: %w", s.Name, err)
		}
	}
	via := map[string]string{}
	for _, r := range s.AllRoutes() {
		if err := CheckRoute(r); err != nil {
			return fmt.Errorf("machine %s: %w", s.Name, err)
		}
		if other, dup := via[r.To]; dup {
			return fmt.Errorf("machine %s: routes: two routes to %s (via %s and %s); gateway = gives the default route", s.Name, r.To, other, r.Via)
		}
		via[r.To] = r.Via
		if s.Internet && r.To == "0.0.0.0/0" {
			return fmt.Errorf("machine %s: an IPv4 default route via %s, and internet = True, whose default route is eth0's: give it one or the other", s.Name, r.Via)
		}
	}
	return nil
}

// AllRoutes returns the machine's routes: its default routes (through
// Gateways), then Routes.
func (s *Spec) AllRoutes() []wire.Route {
	var out []wire.Route
	for _, g := range s.Gateways {
		to := "0.0.0.0/0"
		if strings.Contains(g, ":") {
			to = "::/0"
		}
		out = append(out, wire.Route{To: to, Via: g})
	}
	return append(out, s.Routes...)
}

// checkSysctl reports a name that is not a kernel parameter's, or one of
// an interface the machine does not have.
func (s *Spec) checkSysctl(name string) error {
	if !sysctlName.MatchString(name) {
		return fmt.Errorf("%q is not a kernel parameter name such as net.ipv4.ip_forward", name)
	}
	if m := ifaceSysctl.FindStringSubmatch(name); m != nil {
		n, _ := strconv.Atoi(strings.TrimPrefix(m[2], "eth"))
		if n > len(s.VLANs) {
			return fmt.Errorf("%s: the machine has no %s: its interfaces are eth0 (the user network) and one per vlan, %s", name, m[2], s.ifaceNames())
		}
	}
	return nil
}

// ifaceNames says which interface is on which vlan: "eth1 (vlan 1), eth2
// (vlan 5)".
func (s *Spec) ifaceNames() string {
	if len(s.VLANs) == 0 {
		return "none (vlans = [])"
	}
	var names []string
	for i, v := range s.VLANs {
		names = append(names, fmt.Sprintf("eth%d (vlan %d)", i+1, v))
	}
	return strings.Join(names, ", ")
}

// CheckRoute reports a route whose network or gateway is not an address,
// or whose families differ.
func CheckRoute(r wire.Route) error {
	to, err := netip.ParsePrefix(r.To)
	if err != nil {
		return fmt.Errorf("route to %q: want a network such as 10.1.2.0/24 or fd00:2::/64, or default", r.To)
	}
	via, err := netip.ParseAddr(r.Via)
	if err != nil || via.Zone() != "" {
		return fmt.Errorf("route to %s: via %q: want the gateway's address, such as 10.1.1.1 or fd00:1::1", r.To, r.Via)
	}
	if to.Addr().Is4() != via.Is4() {
		return fmt.Errorf("route to %s via %s: the network and the gateway are of different families", r.To, r.Via)
	}
	if to.Masked() != to {
		return fmt.Errorf("route to %s: the network has host bits set (did you mean %s?)", r.To, to.Masked())
	}
	return nil
}

// checkGateways reports a route of the machine whose gateway none of its
// own addresses is on the network of: the kernel would refuse it at boot
// (a gateway must be on a directly connected network). addrs are its
// addresses, CIDR.
func checkGateways(s *Spec, addrs []string) error {
	for _, r := range s.AllRoutes() {
		via, _ := netip.ParseAddr(r.Via)
		reached := false
		var nets []string
		for _, a := range addrs {
			p, err := netip.ParsePrefix(a)
			if err != nil || p.Addr().Is4() != via.Is4() {
				continue
			}
			nets = append(nets, p.Masked().String())
			reached = reached || p.Contains(via)
		}
		if s.Internet && via.Is4() && netip.MustParsePrefix(vm.UserNetGuest).Contains(via) {
			reached = true
		}
		if !reached {
			have := "none"
			if len(nets) > 0 {
				have = strings.Join(nets, ", ")
			}
			return fmt.Errorf("machine %s: route to %s: the gateway %s is on none of its networks (%s)", s.Name, r.To, r.Via, have)
		}
	}
	return nil
}
