package vm

import (
	"os"
)

// RewriteSnapshotStream replaces the migration stream of the snapshot at
// path with stream, under a header whose size and checksum match it: a
// snapshot that passes its checks and that QEMU refuses.
func RewriteSnapshotStream(path string, stream []byte) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	h, err := readSnapHeader(f)
	if err != nil {
		return err
	}
	w, err := newSnapWriter(path)
	if err != nil {
		return err
	}
	w.bw.Write(stream)
	w.crc.Write(stream)
	w.n = int64(len(stream))
	return w.commit(h, nil)
}
