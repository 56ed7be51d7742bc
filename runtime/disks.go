package runtime

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vmtest/vmtest/vm"
	"github.com/vmtest/vmtest/vm/disk"
)

// Disk is an empty disk of a machine besides the one of its root, as
// disks = {"vdb": "1G"} declares it: a device name, a size, a file system
// made on the host ("" for none: a raw disk) and where the agent mounts it
// at every boot ("" for nowhere).
type Disk struct {
	Name  string
	Size  int64 // bytes
	FS    string
	Mount string
}

// MaxDisks is how many extra disks a machine may have: vdb to vdz.
const MaxDisks = 25

// MaxDiskSize bounds an extra disk (its file is sparse: it takes what the
// guest writes).
const MaxDiskSize = 1 << 40

// DiskName returns the device name of extra disk i: vdb, vdc, ...
func DiskName(i int) string { return "vd" + string(rune('b'+i)) }

// checkDisks reports what is wrong with the machine's extra disks: names
// out of order (the guest names its disks in the order of their slots),
// sizes, file systems, mount points.
func (s *Spec) checkDisks() error {
	if len(s.Disks) > MaxDisks {
		return fmt.Errorf("machine %s: disks: %d disks, at most %d (vdb to vdz)", s.Name, len(s.Disks), MaxDisks)
	}
	mounts := map[string]string{}
	for i, d := range s.Disks {
		if want := DiskName(i); d.Name != want {
			return fmt.Errorf("machine %s: disks: %q where %s comes: the guest names its extra disks vdb, vdc, ... in order (vda holds its root)", s.Name, d.Name, want)
		}
		if d.Size < 1<<20 || d.Size > MaxDiskSize {
			return fmt.Errorf("machine %s: disks: %s: %d bytes is out of range 1M..1T", s.Name, d.Name, d.Size)
		}
		if d.FS != "" && !slices.Contains(disk.FileSystems, d.FS) {
			return fmt.Errorf("machine %s: disks: %s: file system %q: want one of %s (others can be made in the guest, on a raw disk)", s.Name, d.Name, d.FS, strings.Join(disk.FileSystems, ", "))
		}
		if d.Mount == "" {
			continue
		}
		if d.FS == "" {
			return fmt.Errorf("machine %s: disks: %s: mounted on %s but has no file system (give it fs = \"ext4\")", s.Name, d.Name, d.Mount)
		}
		if !filepath.IsAbs(d.Mount) || filepath.Clean(d.Mount) != d.Mount || d.Mount == "/" {
			return fmt.Errorf("machine %s: disks: %s: mount point %q: want a clean absolute path other than /", s.Name, d.Name, d.Mount)
		}
		if other, dup := mounts[d.Mount]; dup {
			return fmt.Errorf("machine %s: disks: %s and %s are both mounted on %s", s.Name, other, d.Name, d.Mount)
		}
		mounts[d.Mount] = d.Name
	}
	return nil
}

// extraDisks returns the machine's extra disks as the vm boots them, with
// their files in dir.
func (s *Spec) extraDisks(dir string) []vm.ExtraDisk {
	var out []vm.ExtraDisk
	for _, d := range s.Disks {
		out = append(out, vm.ExtraDisk{Name: d.Name, Path: filepath.Join(dir, d.Name+".img"), Size: d.Size, FS: d.FS, Mount: d.Mount})
	}
	return out
}
