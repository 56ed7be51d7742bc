package builtins

import (
	"fmt"
	"strconv"
	"strings"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/runtime"
)

// diskKeys are the keys of a disk's dict.
var diskKeys = []string{"size", "fs", "mount"}

// setDisks reads disks = {"vdb": "1G"} or {"vdb": {"size": "1G", "fs":
// "ext4", "mount": "/data"}}: empty disks besides the root's, in the
// order of their names (checked with the whole spec).
func setDisks(s *runtime.Spec, v starlark.Value) error {
	items, err := dictItems(v, `disks such as {"vdb": "1G"}`)
	if err != nil {
		return err
	}
	s.Disks = nil
	for _, it := range items {
		d := runtime.Disk{Name: string(it[0].(starlark.String))}
		if err := readDisk(&d, it[1]); err != nil {
			return fmt.Errorf("%s: %w", d.Name, err)
		}
		s.Disks = append(s.Disks, d)
	}
	return nil
}

// readDisk reads one disk's value: a size, or a dict of size, fs, mount.
func readDisk(d *runtime.Disk, v starlark.Value) error {
	dict, ok := v.(*starlark.Dict)
	if !ok {
		return diskSize(&d.Size, v)
	}
	for _, it := range dict.Items() {
		k, _ := starlark.AsString(it[0])
		var err error
		switch k {
		case "size":
			err = diskSize(&d.Size, it[1])
		case "fs", "mount":
			val, ok := starlark.AsString(it[1])
			if !ok {
				err = fmt.Errorf("%s: want a string, got %s", k, it[1].Type())
			} else if k == "fs" {
				d.FS = val
			} else {
				d.Mount = val
			}
		default:
			err = unknownKey(k, diskKeys...)
		}
		if err != nil {
			return err
		}
	}
	if d.Size == 0 {
		return fmt.Errorf(`want a size: {"size": "1G"}`)
	}
	return nil
}

// diskSize reads a disk's size: an int of MiB (as memory), or a string
// with a unit: "512M", "1G", "1GiB", "2T".
func diskSize(size *int64, v starlark.Value) error {
	var mib int64
	if err := starlark.AsInt(v, &mib); err == nil {
		if mib < 1 || mib > runtime.MaxDiskSize>>20 {
			return fmt.Errorf("size %d MiB is out of range 1..%d", mib, runtime.MaxDiskSize>>20)
		}
		*size = mib << 20
		return nil
	}
	str, ok := starlark.AsString(v)
	if !ok {
		return fmt.Errorf(`want a size such as "1G" (or an int of MiB), got %s`, v.Type())
	}
	num := strings.TrimSuffix(strings.TrimSuffix(str, "B"), "i")
	shift := 0
	if n := len(num); n > 0 {
		switch num[n-1] {
		case 'K', 'k':
			shift = 10
		case 'M':
			shift = 20
		case 'G':
			shift = 30
		case 'T':
			shift = 40
		}
		if shift > 0 {
			num = num[:n-1]
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 1 || shift == 0 {
		return fmt.Errorf(`size %q: want a whole number with a unit K, M, G or T, such as "1G"`, str)
	}
	if n > runtime.MaxDiskSize>>shift || n<<shift < 1<<20 {
		return fmt.Errorf("size %q is out of range 1M..1T", str)
	}
	*size = n << shift
	return nil
}
