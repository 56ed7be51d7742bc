//go:build linux

package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// nicsInOrder returns the names of the machine's virtio network interfaces
// in the order of their devices' PCI addresses, waiting up to wait until
// there are at least n. That order is the order of QEMU's -device options,
// so the host can name each NIC by its position: unlike its MAC, which a
// machine revived from a boot snapshot inherits from the machine that
// saved it (the MAC is device state, restored with the rest).
func nicsInOrder(n int, wait time.Duration) ([]string, error) {
	deadline := time.Now().Add(wait)
	for {
		nics := virtioNICs()
		if len(nics) >= n {
			return nics, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("want %d virtio network interfaces, found %d after %s (%s)", n, len(nics), wait, strings.Join(nics, ", "))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// virtioNICs lists the interfaces driven by virtio_net, sorted by the sysfs
// path of their device (/sys/devices/pci0000:00/0000:00:05.0/virtio3),
// which orders them by PCI address.
func virtioNICs() []string {
	type nic struct{ name, dev string }
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
		nics = append(nics, nic{filepath.Base(d), dev})
	}
	sort.Slice(nics, func(i, j int) bool { return nics[i].dev < nics[j].dev })
	names := make([]string, len(nics))
	for i, n := range nics {
		names[i] = n.name
	}
	return names
}
