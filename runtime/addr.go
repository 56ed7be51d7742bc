package runtime

import (
	"fmt"
	"slices"
)

// MaxVLAN is the highest vlan number: vlan v is the subnet 192.168.v.0/24.
const MaxVLAN = 254

// MaxMachines is how many machines a network may have: machine n (1-based,
// in the order of sorted names) is host n of every /24 it is on.
const MaxMachines = 254

// HostNumbers returns each machine name's host number: its 1-based index
// in names sorted. The numbers depend on every name of the network, so a
// network's machines must all be known before any address is.
func HostNumbers(names []string) map[string]int {
	sorted := slices.Sorted(slices.Values(names))
	nums := make(map[string]int, len(sorted))
	for i, name := range sorted {
		nums[name] = i + 1
	}
	return nums
}

// Addrs returns the addresses, with their prefix lengths, of host number n
// on vlan: 192.168.<vlan>.<n>/24 and 2001:db8:<vlan>::<n>/64 (both numbers
// written in decimal, so vlan 10 host 3 is 192.168.10.3 and 2001:db8:10::3).
func Addrs(vlan, n int) (v4, v6 string) {
	return fmt.Sprintf("192.168.%d.%d/24", vlan, n), fmt.Sprintf("2001:db8:%d::%d/64", vlan, n)
}

// MAC returns the MAC address of host n's NIC on vlan: locally
// administered, in QEMU's 52:54:00 range, unique per (vlan, n).
func MAC(vlan, n int) string {
	return fmt.Sprintf("52:54:00:12:%02x:%02x", vlan, n)
}

// CheckVLAN reports whether v can be a vlan number.
func CheckVLAN(v int) error {
	if v < 1 || v > MaxVLAN {
		return fmt.Errorf("vlan %d is out of range 1..%d", v, MaxVLAN)
	}
	return nil
}

// stripPrefix returns a CIDR address without its "/len".
func stripPrefix(cidr string) string {
	for i := len(cidr) - 1; i >= 0; i-- {
		if cidr[i] == '/' {
			return cidr[:i]
		}
	}
	return cidr
}
