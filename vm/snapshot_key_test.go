package vm

import "testing"

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
