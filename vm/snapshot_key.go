package vm

import (
	"bytes"
	"fmt"
	"os"

	"github.com/vmtest/vmtest/vm/cache"
	"github.com/vmtest/vmtest/vm/disk"
	"github.com/vmtest/vmtest/vm/wire"
)

// snapshotFormat changes whenever what a snapshot holds, or how a
// revived machine is told who it is, changes.
const snapshotFormat = "vmtest-snapshot-2"

// snapshotKey names the shape of the machine: everything that makes the
// state of its guest at hello what it is. That is QEMU (the binary, by its
// path, size and time, which change with its version), the firmware, the
// kernel and the initramfs (by their cache paths, which are content
// hashes, and their sizes and times), the host CPU's features (which a
// guest under KVM sees), the size of the machine's disk (which its kernel
// learns before hello), and the QEMU command line with everything that
// belongs to one machine replaced by placeholders (see shapeArgs): memory,
// CPUs, accelerator, devices (how many NICs, a disk or not, the display),
// the kernel command line and the machine's qemu_opts.
func (m *Machine) snapshotKey() string {
	parts := [][]byte{[]byte(snapshotFormat), []byte(wire.ProtocolVersion)}
	for _, p := range []string{m.art.QEMU, m.art.Firmware, m.art.Kernel, m.initramfs()} {
		parts = append(parts, []byte(p), fileStamp(p))
	}
	parts = append(parts, cpuFlags())
	if m.cfg.Disk.Path != "" {
		// The guest's kernel probes its disk before hello (vm/agent).
		size, err := disk.Size(m.cfg.Disk)
		if err != nil {
			size = -1 // QEMU will say what is wrong with it
		}
		parts = append(parts, fmt.Appendf(nil, "disk size %d", size))
	}
	for _, a := range m.shapeArgs() {
		parts = append(parts, []byte(a))
	}
	return cache.Key(parts...)
}

// shapeArgs is the machine's QEMU command line with its name, sockets
// (the VNC server's too: a display backend is not part of a migration),
// disk file, MACs and port forwards replaced by placeholders: the same for every machine
// of its shape. Those values do not reach the guest before hello: the
// chardevs and netdevs behind the sockets are not part of a migration, the
// disk's contents are read only after hello (its size, which is read
// before, is in the key), and a NIC's MAC, though
// restored with the device, is set again by the agent (see
// wire.Interface).
func (m *Machine) shapeArgs() []string {
	c := m.cfg
	c.Name = "shape"
	if c.Disk.Path != "" {
		c.Disk = disk.Image{Path: "disk", Format: "raw"}
	}
	c.NICs = make([]NIC, len(m.cfg.NICs))
	for i := range c.NICs {
		c.NICs[i] = NIC{MAC: "52:54:00:00:00:00", Socket: "nic"}
	}
	// The user network's forwards and restriction live in QEMU's slirp, not
	// in the guest; its MAC is set again like the others.
	if c.User != nil {
		c.User = &UserNet{MAC: "52:54:00:00:00:00", Restrict: true}
	}
	shaped := &Machine{art: m.art, cfg: c}
	return shaped.qemuArgs(map[string]string{"console": "console", "qmp": "qmp", "agent": "agent", "vnc": "vnc"}, nil)
}

// fileStamp identifies a file's version by its size and modification
// time; "" for none.
func fileStamp(path string) []byte {
	fi, err := os.Stat(path)
	if path == "" || err != nil {
		return nil
	}
	return fmt.Appendf(nil, "%d %d", fi.ModTime().UnixNano(), fi.Size())
}

// cpuFlags returns the feature flags of the host's first CPU.
func cpuFlags() []byte {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range bytes.Split(b, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("flags")) {
			return line
		}
	}
	return nil
}
