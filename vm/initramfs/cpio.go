package initramfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// Writer writes a cpio archive in the "newc" format (magic 070701), the one
// the Linux kernel unpacks as an initramfs: for each entry a 110-byte ASCII
// header of 8-digit hex fields, the NUL-terminated name padded to a multiple
// of 4 bytes, then the data likewise padded; "TRAILER!!!" ends the archive.
//
// Names are relative to the archive root; a leading "/" is dropped. Since
// the kernel does not create missing parent directories while unpacking,
// Writer emits every parent directory (mode 0755) not written yet before an
// entry. Writing a directory twice is a no-op; writing any other name twice
// is an error. Entries are owned by root and dated 1970 so that the same
// inputs always make the same bytes. The first error is sticky: every later
// call returns it.
type Writer struct {
	w     io.Writer
	off   int64
	ino   uint32
	names map[string]bool // name -> is a directory
	err   error
}

// NewWriter returns a Writer writing to w. Close must be called to end the
// archive.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, names: map[string]bool{}}
}

// Unix file type bits.
const (
	modeDir  = 0o040000
	modeReg  = 0o100000
	modeLink = 0o120000
	modeChr  = 0o020000
)

// WriteDir adds a directory.
func (w *Writer) WriteDir(name string, perm os.FileMode) error {
	name, err := w.prepare(name, true)
	if err != nil || name == "" {
		return err
	}
	return w.entry(name, modeDir|unixPerm(perm), 2, 0, 0, 0, nil)
}

// WriteFile adds a regular file holding data.
func (w *Writer) WriteFile(name string, perm os.FileMode, data []byte) error {
	return w.WriteFileFrom(name, perm, int64(len(data)), bytes.NewReader(data))
}

// WriteFileFrom adds a regular file of size bytes read from r, which must
// provide at least that many.
func (w *Writer) WriteFileFrom(name string, perm os.FileMode, size int64, r io.Reader) error {
	name, err := w.prepare(name, false)
	if err != nil {
		return err
	}
	if size < 0 || size > 0xffffffff {
		return w.fail(fmt.Errorf("cpio entry %s: size %d does not fit the newc format (at most 4 GiB)", name, size))
	}
	return w.entry(name, modeReg|unixPerm(perm), 1, uint32(size), 0, 0, r)
}

// WriteSymlink adds a symbolic link to target.
func (w *Writer) WriteSymlink(name, target string) error {
	name, err := w.prepare(name, false)
	if err != nil {
		return err
	}
	if target == "" {
		return w.fail(fmt.Errorf("cpio entry %s: symbolic link with an empty target", name))
	}
	return w.entry(name, modeLink|0o777, 1, uint32(len(target)), 0, 0, strings.NewReader(target))
}

// WriteCharDevice adds a character device node; the guest kernel creates it
// while unpacking, which needs no privileges on the host.
func (w *Writer) WriteCharDevice(name string, perm os.FileMode, major, minor uint32) error {
	name, err := w.prepare(name, false)
	if err != nil {
		return err
	}
	return w.entry(name, modeChr|unixPerm(perm), 1, 0, major, minor, nil)
}

// Close writes the trailer. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	err := w.entry("TRAILER!!!", 0, 1, 0, 0, 0, nil)
	if err == nil {
		w.err = errors.New("cpio archive is closed")
	}
	return err
}

// prepare cleans name, checks it is new, and writes its missing parent
// directories. For a directory that exists already it returns "".
func (w *Writer) prepare(name string, dir bool) (string, error) {
	if w.err != nil {
		return "", w.err
	}
	clean := strings.TrimLeft(path.Clean("/"+name), "/")
	if clean == "" || strings.ContainsRune(name, 0) {
		return "", w.fail(fmt.Errorf("cpio entry name %q: want a path below the root", name))
	}
	if isDir, seen := w.names[clean]; seen {
		if dir && isDir {
			return "", nil
		}
		return "", w.fail(fmt.Errorf("cpio entry %s is written twice", clean))
	}
	if i := strings.LastIndexByte(clean, '/'); i > 0 {
		if err := w.WriteDir(clean[:i], 0o755); err != nil {
			return "", err
		}
	}
	w.names[clean] = dir
	return clean, nil
}

func (w *Writer) entry(name string, mode, nlink, size, rmajor, rminor uint32, data io.Reader) error {
	w.ino++
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		w.ino, mode, 0, 0, nlink, 0, size, 0, 0, rmajor, rminor, len(name)+1, 0)
	if err := w.write([]byte(hdr + name + "\x00")); err != nil {
		return err
	}
	if err := w.pad(); err != nil {
		return err
	}
	if data != nil {
		n, err := io.CopyN(w.w, data, int64(size))
		w.off += n
		if err != nil {
			if err == io.EOF {
				err = fmt.Errorf("want %d bytes, the reader had only %d", size, n)
			}
			return w.fail(fmt.Errorf("cpio entry %s: %w", name, err))
		}
	}
	return w.pad()
}

func (w *Writer) pad() error {
	return w.write(make([]byte, (4-w.off%4)%4))
}

func (w *Writer) write(b []byte) error {
	n, err := w.w.Write(b)
	w.off += int64(n)
	if err != nil {
		return w.fail(err)
	}
	return nil
}

func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return err
}

// unixPerm converts the permission and special bits of m to their Unix
// values.
func unixPerm(m os.FileMode) uint32 {
	p := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		p |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		p |= 0o1000
	}
	return p
}
