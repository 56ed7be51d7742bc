package kernel

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/vmtest/vmtest/vm/cache"
)

// NoPVHError is returned by VMLinux for a kernel that cannot be booted
// through PVH: its payload is compressed in a format vmtest does not unpack,
// or it was built without CONFIG_PVH. QEMU can still boot such a kernel from
// its bzImage, only more slowly under TCG; callers may test for this error
// with errors.As and fall back to that.
type NoPVHError struct {
	Path   string // the bzImage
	Reason string // why, e.g. "its payload is zstd-compressed and vmtest unpacks only xz and gzip"
}

func (e *NoPVHError) Error() string {
	return fmt.Sprintf("kernel %s cannot be booted through PVH: %s; boot the bzImage directly instead with --no-pvh (slower under TCG)", e.Path, e.Reason)
}

// VMLinux returns the path of the uncompressed ELF vmlinux inside the
// bzImage k.Path, for QEMU to boot through its PVH entry point. The ELF is
// unpacked once and cached as <cacheDir>/vmlinux-<hex sha256 of the bzImage>;
// later calls only hash the bzImage (about 10 ms for 8 MB) and find it.
//
// Payloads compressed with xz (including the x86 BCJ filter the kernel build
// uses), gzip, or not at all are supported. Other formats (zstd, lz4, lzma,
// bzip2, lzo), and kernels built without CONFIG_PVH, give a *NoPVHError. A
// file that is not a well-formed bzImage gives an error saying what is wrong.
func VMLinux(k *Kernel, cacheDir string) (string, error) {
	data, err := os.ReadFile(k.Path)
	if err != nil {
		return "", fmt.Errorf("cannot read kernel: %w", err)
	}
	sum := sha256.Sum256(data)
	out := filepath.Join(cacheDir, "vmlinux-"+hex.EncodeToString(sum[:]))
	if ok, err := cache.Exists(out); err != nil || ok {
		return out, err
	}
	vmlinux, err := extract(k.Path, data)
	if err != nil {
		return "", err
	}
	if err := checkPVH(k.Path, vmlinux); err != nil {
		return "", err
	}
	err = cache.WriteAtomic(out, func(w io.Writer) error {
		_, err := w.Write(vmlinux)
		return err
	})
	if err != nil {
		return "", err
	}
	return out, nil
}

// extract returns the payload of the bzImage data (read from path),
// decompressed.
func extract(path string, data []byte) ([]byte, error) {
	payload, err := splitPayload(path, data)
	if err != nil {
		return nil, err
	}

	// The last four bytes of the payload are the unpacked size (appended by
	// the kernel build for xz, lzma, ...; the gzip trailer's ISIZE).
	hint := int(binary.LittleEndian.Uint32(payload[len(payload)-4:]))

	var format string
	switch {
	case bytes.HasPrefix(payload, xzMagic):
		out, err := unxz(payload, hint)
		if err != nil {
			return nil, fmt.Errorf("kernel %s: cannot unpack its xz payload: %w; the file looks damaged, reinstall it", path, err)
		}
		return out, nil
	case bytes.HasPrefix(payload, []byte{0x1f, 0x8b}):
		out, err := gunzip(payload, hint)
		if err != nil {
			return nil, fmt.Errorf("kernel %s: cannot unpack its gzip payload: %w; the file looks damaged, reinstall it", path, err)
		}
		return out, nil
	case bytes.HasPrefix(payload, []byte("\x7fELF")):
		return payload, nil // CONFIG_KERNEL_UNCOMPRESSED
	case bytes.HasPrefix(payload, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		format = "zstd"
	case bytes.HasPrefix(payload, []byte{0x02, 0x21, 0x4c, 0x18}):
		format = "lz4"
	case bytes.HasPrefix(payload, []byte("BZh")):
		format = "bzip2"
	case bytes.HasPrefix(payload, []byte("\x89LZO\x00\r\n\x1a\n")):
		format = "lzo"
	case bytes.HasPrefix(payload, []byte{0x5d, 0x00, 0x00}):
		format = "lzma"
	default:
		n := min(len(payload), 8)
		return nil, &NoPVHError{Path: path, Reason: fmt.Sprintf("its payload starts with % x, which is no compression format vmtest knows (it unpacks xz and gzip)", payload[:n])}
	}
	return nil, &NoPVHError{Path: path, Reason: fmt.Sprintf("its payload is %s-compressed and vmtest unpacks only xz and gzip", format)}
}

// splitPayload returns the compressed kernel inside the bzImage data.
func splitPayload(path string, data []byte) ([]byte, error) {
	if len(data) < headerEnd {
		return nil, fmt.Errorf("kernel %s is not a bzImage: want a setup header, found only a %d-byte file", path, len(data))
	}
	if err := checkMagic(path, data); err != nil {
		return nil, err
	}
	if v := binary.LittleEndian.Uint16(data[offVersion:]); v < 0x208 {
		return nil, &NoPVHError{Path: path, Reason: fmt.Sprintf("its boot protocol %d.%02d is older than 2.08 and does not say where its payload is", v>>8, v&0xff)}
	}
	setupSects := int64(data[offSetupSects])
	if setupSects == 0 {
		setupSects = 4
	}
	start := (setupSects+1)*512 + int64(binary.LittleEndian.Uint32(data[offPayloadOffset:]))
	length := int64(binary.LittleEndian.Uint32(data[offPayloadLength:]))
	if length < 4 || start+length > int64(len(data)) {
		return nil, fmt.Errorf("kernel %s is truncated or damaged: its header puts the payload at bytes %d to %d, the file has %d bytes; reinstall it", path, start, start+length, len(data))
	}
	return data[start : start+length], nil
}

func gunzip(payload []byte, hint int) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	zr.Multistream(false) // ignore whatever follows the first member
	var out bytes.Buffer
	if hint > 0 && hint <= maxUnpacked {
		out.Grow(hint)
	}
	n, err := out.ReadFrom(io.LimitReader(zr, maxUnpacked+1))
	if err != nil {
		return nil, err
	}
	if n > maxUnpacked {
		return nil, fmt.Errorf("it unpacks to more than %d bytes", maxUnpacked)
	}
	return out.Bytes(), nil
}

// Xen ELF note type announcing the 32-bit PVH entry point
// (XEN_ELFNOTE_PHYS32_ENTRY in xen/include/public/elfnote.h).
const xenElfnotePhys32Entry = 18

// checkPVH verifies that vmlinux is an ELF file with a PVH entry point note,
// which is what QEMU looks for to boot it.
func checkPVH(path string, vmlinux []byte) error {
	f, err := elf.NewFile(bytes.NewReader(vmlinux))
	if err != nil {
		return fmt.Errorf("kernel %s: its payload unpacked to %d bytes that are not an ELF vmlinux (%w); the file looks damaged", path, len(vmlinux), err)
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		notes, err := io.ReadAll(p.Open())
		if err != nil {
			return fmt.Errorf("kernel %s: its vmlinux has a damaged note segment: %w", path, err)
		}
		align := 4
		if p.Align == 8 {
			align = 8
		}
		if hasNote(notes, f.ByteOrder, align, "Xen", xenElfnotePhys32Entry) {
			return nil
		}
	}
	return &NoPVHError{Path: path, Reason: "its vmlinux has no PVH entry point (no \"Xen\" ELF note of type 18, XEN_ELFNOTE_PHYS32_ENTRY): the kernel was built without CONFIG_PVH=y"}
}

// hasNote reports whether the ELF note segment notes holds a note with the
// given name and type. Name and descriptor are each padded to align bytes.
func hasNote(notes []byte, bo binary.ByteOrder, align int, name string, typ uint32) bool {
	pad := func(n uint64) uint64 { a := uint64(align); return (n + a - 1) / a * a }
	for len(notes) >= 12 {
		namesz := uint64(bo.Uint32(notes[0:]))
		descsz := uint64(bo.Uint32(notes[4:]))
		t := bo.Uint32(notes[8:])
		body := notes[12:]
		if namesz > uint64(len(body)) || pad(namesz)+descsz > uint64(len(body)) {
			return false // damaged
		}
		if string(bytes.TrimRight(body[:namesz], "\x00")) == name && t == typ {
			return true
		}
		next := pad(namesz) + pad(descsz)
		if next >= uint64(len(body)) {
			return false
		}
		notes = body[next:]
	}
	return false
}
