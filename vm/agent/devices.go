//go:build linux

package agent

import (
	"os"
	"path/filepath"
	"strings"
)

// PCI identities of the virtio devices whose drivers the agent loads on
// demand: legacy (transitional) and modern device ids, vendor Red Hat.
const virtioVendor = "0x1af4"

var (
	virtioNetIDs = []string{"0x1000", "0x1041"}
	virtioBlkIDs = []string{"0x1001", "0x1042"}
)

// hasPCIDevice reports whether the machine has a virtio PCI device with
// one of ids. The PCI bus is enumerated before init runs, whatever drivers
// are loaded.
func hasPCIDevice(ids []string) bool {
	devs, _ := filepath.Glob("/sys/bus/pci/devices/*")
	for _, d := range devs {
		v, err := os.ReadFile(filepath.Join(d, "vendor"))
		if err != nil || strings.TrimSpace(string(v)) != virtioVendor {
			continue
		}
		id, err := os.ReadFile(filepath.Join(d, "device"))
		if err != nil {
			continue
		}
		for _, want := range ids {
			if strings.TrimSpace(string(id)) == want {
				return true
			}
		}
	}
	return false
}

// loadDeviceModules loads, before hello, the drivers of the machine's
// devices that are the same in every machine of its shape: virtio_net for
// its NICs (a NIC's MAC is set later, in configure) and ext4 for the file
// system on its disk, but not virtio_blk, which would read the disk. A
// boot snapshot then holds them loaded, and a revived machine skips the
// loading, which under software emulation costs it more than the cold
// machine (none of that code has been translated in its QEMU yet).
func loadDeviceModules() error {
	if hasPCIDevice(virtioNetIDs) {
		if err := loadModules("/modules.net"); err != nil {
			return err
		}
	}
	if hasPCIDevice(virtioBlkIDs) {
		if err := loadModules("/modules.disk"); err != nil {
			return err
		}
	}
	return nil
}
