package runtime

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/vmtest/vmtest/vm"
)

// checkNet reports what is wrong with the network keys of s on its own:
// forwards and given addresses.
func (s *Spec) checkNet() error {
	hosts := map[int]bool{}
	for _, f := range s.Forwards {
		if f.Host < 1 || f.Host > 65535 || f.Guest < 1 || f.Guest > 65535 {
			return fmt.Errorf("machine %s: forward_ports: %d → %d: ports are 1..65535", s.Name, f.Host, f.Guest)
		}
		if hosts[f.Host] {
			return fmt.Errorf("machine %s: forward_ports: host port %d is forwarded twice", s.Name, f.Host)
		}
		hosts[f.Host] = true
	}
	for vlan, addrs := range s.Addresses {
		if !slices.Contains(s.VLANs, vlan) {
			return fmt.Errorf("machine %s: addresses: vlan %d is not one of its vlans %v", s.Name, vlan, s.VLANs)
		}
		var v4, v6 int
		for _, a := range addrs {
			p, err := ParseAddress(a)
			if err != nil {
				return fmt.Errorf("machine %s: addresses: vlan %d: %w", s.Name, vlan, err)
			}
			if p.Addr().Is4() {
				v4++
			} else {
				v6++
			}
		}
		if v4 > 1 || v6 > 1 {
			return fmt.Errorf("machine %s: addresses: vlan %d: at most one IPv4 and one IPv6 address, got %s", s.Name, vlan, strings.Join(addrs, ", "))
		}
	}
	return nil
}

// ParseAddress reads an address given in a script: "10.0.0.5" or
// "10.0.0.5/8" (IPv4, /24 by default), "2001:db8::5" or "fd00::5/48"
// (IPv6, /64 by default). It returns it with its prefix length.
func ParseAddress(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not an address such as 10.0.0.5/24 or 2001:db8::5/64", s)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not an address such as 10.0.0.5 or 2001:db8::5", s)
	}
	bits := 64
	if a.Is4() {
		bits = 24
	}
	return netip.PrefixFrom(a, bits), nil
}

// NICAddrs returns the addresses, with their prefix lengths, of the NIC
// on vlan of host number n: those given (addresses[vlan]), and for a
// family none is given, the computed one (Addrs). IPv4 first.
func NICAddrs(vlan, n int, addresses map[int][]string) (v4, v6 string) {
	v4, v6 = Addrs(vlan, n)
	for _, a := range addresses[vlan] {
		p, err := ParseAddress(a)
		if err != nil {
			continue // checked by Spec.check
		}
		if p.Addr().Is4() {
			v4 = p.String()
		} else {
			v6 = p.String()
		}
	}
	return v4, v6
}

// checkNetwork reports what is wrong between machines: two machines with
// the same address on a vlan, or forwarding the same host port.
func checkNetwork(specs []Spec) error {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	nums := HostNumbers(names)
	type key struct {
		vlan int
		addr netip.Addr
	}
	owner := map[key]string{}
	hostPort := map[int]string{}
	for _, s := range specs {
		for _, v := range s.VLANs {
			v4, v6 := NICAddrs(v, nums[s.Name], s.Addresses)
			for _, a := range []string{v4, v6} {
				p, _ := netip.ParsePrefix(a)
				k := key{v, p.Addr()}
				if other, dup := owner[k]; dup {
					return fmt.Errorf("machines %s and %s both have address %s on vlan %d; give one of them another in addresses", other, s.Name, p.Addr(), v)
				}
				owner[k] = s.Name
			}
		}
		for _, f := range s.Forwards {
			if other, dup := hostPort[f.Host]; dup {
				return fmt.Errorf("machines %s and %s both forward host port %d", other, s.Name, f.Host)
			}
			hostPort[f.Host] = s.Name
		}
	}
	return nil
}

// checkHostPorts reports a forwarded host port that something on the
// host already listens on, before anything boots.
func checkHostPorts(specs []Spec) error {
	for _, s := range specs {
		for _, f := range s.Forwards {
			if err := vm.CheckHostPort(f.Host); err != nil {
				return fmt.Errorf("machine %s: forward_ports: %w", s.Name, err)
			}
		}
	}
	return nil
}

// userNet is the machine's user network (eth0), which every machine has:
// restricted to forwards unless the machine is on the internet.
func (m *Machine) userNet() *vm.UserNet {
	return &vm.UserNet{
		MAC:      MAC(0, m.num),
		Restrict: !m.spec.Internet,
		Forwards: slices.Clone(m.spec.Forwards),
	}
}

// resolvConf is /etc/resolv.conf of a machine on the internet: the user
// network's DNS server.
const resolvConf = "nameserver " + vm.UserNetDNS + "\n"

// ForwardPort forwards TCP port host of the host's 127.0.0.1 to port
// guest of the machine, booting it first if it is not running; host 0
// picks a free port. It returns the host port. The forward lasts for the
// rest of the run, across reboots.
func (m *Machine) ForwardPort(ctx context.Context, host, guest int) (int, error) {
	v, err := m.running(ctx)
	if err != nil {
		return 0, err
	}
	if host == 0 {
		if host, err = vm.FreeHostPort(); err != nil {
			return 0, m.errorf(err, "%v", err)
		}
	}
	if err := v.ForwardPort(ctx, host, guest); err != nil {
		return 0, m.errorf(err, "%v", err)
	}
	m.net.log.Machinef(m.Name(), "host port 127.0.0.1:%d forwards to its port %d", host, guest)
	return host, nil
}
