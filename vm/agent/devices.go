//go:build linux

package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
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
// one of ids.
func hasPCIDevice(vendor string, ids []string) bool { return countPCIDevices(vendor, ids) > 0 }

// countPCIDevices returns how many PCI devices of vendor with one of ids
// the machine has. The PCI bus is enumerated before init runs, whatever
// drivers are loaded.
func countPCIDevices(vendor string, ids []string) int {
	n := 0
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
		if slices.Contains(ids, strings.TrimSpace(string(id))) {
			n++
		}
	}
	return n
}

// loadDeviceModules loads, before hello, the drivers of the machine's
// devices, which are the same in every machine of its shape: virtio_net
// for its NICs (a NIC's MAC is set later, in configure), ext4 and
// virtio_blk for its disk, the DRM driver for its display (whose frame
// buffer console then shows tty1; the initramfs of a machine without a
// display has no such group, and nothing is loaded). A boot snapshot then
// holds them loaded, and a revived machine skips loading them, which under
// software emulation costs it more than it cost the cold machine (none of
// that code has been translated in its QEMU yet). For the same reason virtio_blk probes the
// disk here, though the disk belongs to one machine: what the probe learns
// is the same for every machine of the shape (the disk's size is part of
// it, see vm.snapshotKey), and what it read of the disk is dropped before
// hello (see dropDiskCache), so that the first read of the disk's contents
// is the mount in configure.
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
		if err := loadModules("/modules.disk"); err != nil {
			return err
		}
		return dropDiskCache()
	}
	return nil
}

// dropDiskCache drops the pages the kernel cached of the virtio disks
// while probing them (their partition tables): in a machine revived from
// a boot snapshot they would be another machine's disk. The kernel drops
// them itself when the last user of the disk closes it, which the
// partition scan is; BLKFLSBUF says so explicitly.
func dropDiskCache() error {
	devs, _ := filepath.Glob("/sys/block/vd*")
	for _, d := range devs {
		f, err := os.Open("/dev/" + filepath.Base(d))
		if err != nil {
			return fmt.Errorf("dropping what the kernel read of the disk: %w", err)
		}
		_, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKFLSBUF, 0)
		f.Close()
		if e != 0 {
			return fmt.Errorf("dropping what the kernel read of %s (BLKFLSBUF): %w", f.Name(), e)
		}
	}
	return nil
}
