package vm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/vm/disk"
)

// Machines that differ only in what the guest cannot see before hello
// (names, disks, MACs, port forwards) share a boot snapshot; a different
// device set does not.
func TestSnapshotShapeIgnoresIdentity(t *testing.T) {
	art := &Artifacts{QEMU: "qemu", Kernel: "vmlinux", Initramfs: "initrd"}
	mk := func(name, mac string, fwd []Forward, nics int) *Machine {
		c := Config{Name: name, Memory: 512, CPUs: 1, Dir: "/run/" + name,
			User: &UserNet{MAC: mac, Restrict: len(fwd) == 0, Forwards: fwd}}
		for i := 0; i < nics; i++ {
			c.NICs = append(c.NICs, NIC{MAC: mac, Socket: "/run/" + name + "/nic"})
		}
		return &Machine{art: art, cfg: c}
	}
	a := mk("a", "52:54:00:00:00:01", nil, 1)
	b := mk("b", "52:54:00:00:00:02", []Forward{{Host: 8080, Guest: 80}}, 1)
	if a.snapshotKey() != b.snapshotKey() {
		t.Errorf("machines differing in name, MACs and forwards have different shapes:\n%q\n%q", a.shapeArgs(), b.shapeArgs())
	}
	if c := mk("c", "52:54:00:00:00:03", nil, 2); c.snapshotKey() == a.snapshotKey() {
		t.Error("a machine with another NIC has the same shape")
	}
}

// A display is part of a machine's shape, its VNC socket is not; a machine
// without a display has neither VGA nor VNC.
func TestSnapshotShapeOfDisplay(t *testing.T) {
	art := &Artifacts{QEMU: "qemu", Kernel: "vmlinux", Initramfs: "initrd", DisplayInitramfs: "initrd-display"}
	mk := func(name string, display bool) *Machine {
		return &Machine{art: art, cfg: Config{Name: name, Memory: 512, CPUs: 1, Dir: "/run/" + name, Display: display}}
	}
	plain, a, b := mk("p", false), mk("a", true), mk("b", true)
	if a.snapshotKey() != b.snapshotKey() {
		t.Errorf("display machines differing in name have different shapes:\n%q\n%q", a.shapeArgs(), b.shapeArgs())
	}
	if plain.snapshotKey() == a.snapshotKey() {
		t.Error("a machine with a display has the shape of one without")
	}
	args := strings.Join(plain.qemuArgs(map[string]string{"console": "c", "qmp": "q", "agent": "a"}, nil), " ")
	if strings.Contains(args, "VGA") || strings.Contains(args, "-vnc") || strings.Contains(args, "initrd-display") {
		t.Errorf("a machine without a display has display arguments: %s", args)
	}
	args = strings.Join(a.qemuArgs(map[string]string{"console": "c", "qmp": "q", "agent": "a", "vnc": "/run/a/vnc.sock"}, nil), " ")
	for _, want := range []string{"-device VGA,", "-vnc unix:/run/a/vnc.sock", "-initrd initrd-display", "-display none"} {
		if !strings.Contains(args, want) {
			t.Errorf("the arguments of a display machine lack %q: %s", want, args)
		}
	}
}

// Disks of one size share a shape whatever their files; a disk of
// another size, whose guest kernel learns it before hello, does not.
func TestSnapshotShapeHasTheDiskSize(t *testing.T) {
	art := &Artifacts{QEMU: "qemu", Kernel: "vmlinux", Initramfs: "initrd"}
	dir := t.TempDir()
	mk := func(name string, size int64) *Machine {
		p := filepath.Join(dir, name+".img")
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, size); err != nil {
			t.Fatal(err)
		}
		return &Machine{art: art, cfg: Config{Name: name, Memory: 512, CPUs: 1, Disk: disk.Image{Path: p, Format: "raw"}}}
	}
	a, b, c := mk("a", 8<<30), mk("b", 8<<30), mk("c", 4<<30)
	if a.snapshotKey() != b.snapshotKey() {
		t.Error("two disks of the same size make different shapes")
	}
	if a.snapshotKey() == c.snapshotKey() {
		t.Error("disks of 8 and 4 GiB make the same shape")
	}
}
