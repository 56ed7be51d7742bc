//go:build linux

package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/vmtest/vmtest/vm/wire"
)

// nic is a virtio network interface of the guest.
type nic struct {
	name string // e.g. eth0
	pci  string // the PCI address of its device, e.g. 0000:00:10.0
	dev  string // the sysfs path of its virtio device, which sorts by PCI address
	// index is the kernel's index of the interface (0: not looked up).
	index int32
}

// waitNICs returns the virtio NICs once ifs can be matched to them (see
// match), waiting up to wait for them to appear (virtio_net probes them
// as it loads, so they normally are there).
func waitNICs(ifs []wire.Interface, wait time.Duration) ([]nic, error) {
	deadline := time.Now().Add(wait)
	for {
		nics := virtioNICs()
		_, err := match(ifs, nics)
		if err == nil {
			return nics, nil
		}
		if time.Now().After(deadline) {
			var have []string
			for _, n := range nics {
				have = append(have, n.name+" at "+n.pci)
			}
			return nil, fmt.Errorf("%w after %s; the guest has: %s", err, wait, strings.Join(have, ", "))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// match returns the interface name for each of ifs: the NIC at its PCI
// address, or for one without, the next NIC in PCI address order that no
// other names. NICs are not found by MAC: a machine revived from a boot
// snapshot inherits the MACs of the machine that saved it, as device
// state.
func match(ifs []wire.Interface, nics []nic) ([]string, error) {
	names := make([]string, len(ifs))
	taken := map[string]bool{}
	for i, ifc := range ifs {
		if ifc.PCI == "" {
			continue
		}
		for _, n := range nics {
			if n.pci == ifc.PCI {
				names[i], taken[n.name] = n.name, true
			}
		}
		if names[i] == "" {
			return nil, fmt.Errorf("no virtio network interface at PCI address %s", ifc.PCI)
		}
	}
	next := 0
	for i := range ifs {
		if names[i] != "" {
			continue
		}
		for next < len(nics) && taken[nics[next].name] {
			next++
		}
		if next == len(nics) {
			return nil, fmt.Errorf("want %d virtio network interfaces, found %d", len(ifs), len(nics))
		}
		names[i], taken[nics[next].name] = nics[next].name, true
	}
	return names, nil
}

// virtioNICs lists the interfaces driven by virtio_net, sorted by the sysfs
// path of their device (/sys/devices/pci0000:00/0000:00:10.0/virtio3),
// which orders them by PCI address.
func virtioNICs() []nic {
	var nics []nic
	dirs, _ := filepath.Glob("/sys/class/net/*")
	for _, d := range dirs {
		drv, err := os.Readlink(filepath.Join(d, "device", "driver"))
		if err != nil || filepath.Base(drv) != "virtio_net" {
			continue
		}
		dev, err := filepath.EvalSymlinks(filepath.Join(d, "device"))
		if err != nil {
			continue
		}
		nics = append(nics, nic{name: filepath.Base(d), pci: filepath.Base(filepath.Dir(dev)), dev: dev})
	}
	sort.Slice(nics, func(i, j int) bool { return nics[i].dev < nics[j].dev })
	return nics
}
