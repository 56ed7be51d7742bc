package vm

import (
	"os"
)

// RewriteSnapshotStream replaces the migration stream of the snapshot at
// path with stream, keeping its memory image, under a trailer whose sizes
// and checksum match: a snapshot that passes its checks and that QEMU
// refuses.
func RewriteSnapshotStream(path string, stream []byte) error {
	f, err := os.Open(path)
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
	if err := w.writeRAM(f, h.RAMSize); err != nil {
		w.abort()
		return err
	}
	w.Write(stream)
	return w.commit(h, nil)
}
