//go:build linux

package agent

import (
	"fmt"
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

// The PCI identity of QEMU's Bochs display adapters (-device VGA and
// bochs-display), which the bochs DRM driver of the display group drives.
const bochsVendor = "0x1234"

var bochsIDs = []string{"0x1111"}

// hasPCIDevice reports whether the machine has a PCI device of vendor with
// one of ids. The PCI bus is enumerated before init runs, whatever drivers
// are loaded.
func hasPCIDevice(vendor string, ids []string) bool {
	devs, _ := filepath.Glob("/sys/bus/pci/devices/*")
	for _, d := range devs {
		v, err := os.ReadFile(filepath.Join(d, "vendor"))
		if err != nil || strings.TrimSpace(string(v)) != vendor {
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
// devices, which are the same in every machine of its shape: virtio_net
// for its NICs (a NIC's MAC is set later, in configure), ext4 and
// virtio_blk for its disk, the DRM driver for its display (whose frame
// buffer console then shows tty1; the initramfs of a machine without a
// display has no such group, and nothing is loaded). A boot snapshot then holds them loaded, and a
// revived machine skips loading them, which under software emulation
// costs it more than it cost the cold machine (none of that code has been
// translated in its QEMU yet). virtio_blk must not bind to the disk before
// hello, as its probe reads the disk, which belongs to one machine:
// automatic probing on the virtio bus is off until probeDisk.
func loadDeviceModules() error {
	if hasPCIDevice(virtioVendor, virtioNetIDs) {
		if err := loadModules("/modules.net"); err != nil {
			return err
		}
	}
	if hasPCIDevice(bochsVendor, bochsIDs) {
		if err := loadModules("/modules.display"); err != nil {
			return err
		}
	}
	if hasPCIDevice(virtioVendor, virtioBlkIDs) {
		if err := os.WriteFile(virtioAutoprobe, []byte("0"), 0); err != nil {
			return fmt.Errorf("holding back the disk driver: %v", err)
		}
		if err := loadModules("/modules.disk"); err != nil {
			return err
		}
	}
	return nil
}

// virtioAutoprobe says whether drivers bind to virtio devices as soon as
// either appears.
const virtioAutoprobe = "/sys/bus/virtio/drivers_autoprobe"

// virtioBlockID is the virtio device id of a block device.
const virtioBlockID = "0x0002"

// probeDisk binds the loaded virtio_blk driver to the machine's virtio
// disks, which reads them for the first time, and turns automatic probing
// back on. The block devices exist when it returns.
func probeDisk() error {
	devs, _ := filepath.Glob("/sys/bus/virtio/devices/*")
	for _, d := range devs {
		id, err := os.ReadFile(filepath.Join(d, "device"))
		if err != nil || strings.TrimSpace(string(id)) != virtioBlockID {
			continue
		}
		if _, err := os.Lstat(filepath.Join(d, "driver")); err == nil {
			continue // bound already
		}
		if err := os.WriteFile("/sys/bus/virtio/drivers_probe", []byte(filepath.Base(d)), 0); err != nil {
			return fmt.Errorf("binding the disk driver to %s: %v", filepath.Base(d), err)
		}
	}
	return os.WriteFile(virtioAutoprobe, []byte("1"), 0)
}
