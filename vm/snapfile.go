package vm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// A snapshot file is the guest's memory, a QEMU migration stream of the
// rest of its state, what the saving machine printed on its console up to
// the snapshot, and a trailer of snapTrailerSize bytes:
//
//   - The memory image comes first, RAMSize bytes, because QEMU can only
//     map a file from its start: every machine revived from the snapshot
//     maps it as its RAM, privately (memory-backend-file, share=off), so
//     the page cache holds one copy that all of them read, a page is
//     copied only when a guest writes to it, and no QEMU reads or zeroes
//     memory the guest does not touch. It is sparse: the pages that were
//     zero are holes.
//   - The migration stream was saved with x-ignore-shared, so it holds
//     the devices' state and the small RAM blocks (firmware), not the
//     guest's memory. QEMU is given the file's descriptor positioned at
//     it (-incoming fd:N reads on from the current offset and stops at
//     the end of the stream), so it needs no copy.
//   - The console text is replayed on the console of every machine
//     revived from the snapshot, so that its console log, and waits for
//     console text, see a whole boot.
//   - The trailer is text: a magic line, then one line of JSON
//     (snapHeader), then zero bytes up to its size (`tail -c 4096 FILE`
//     shows it).
//
// Keeping the checksum inside the file, rather than in a side file, makes
// the rename that publishes a snapshot publish its checksum with it: no
// reader can pair new contents with an old sum.
const (
	snapMagic       = "vmtest boot snapshot 2\n"
	snapTrailerSize = 4096
)

// snapPage is the unit in which the memory image is checked for zeros
// and left sparse: the host's page.
const snapPage = 4096

// snapHeader describes the file it ends.
type snapHeader struct {
	RAMSize     int64     `json:"ram_size"`
	StreamSize  int64     `json:"stream_size"`
	ConsoleSize int64     `json:"console_size"`
	CRC32C      uint32    `json:"crc32c"` // of the memory, the stream and the console
	Created     time.Time `json:"created"`
	QEMU        string    `json:"qemu"` // the version that wrote it
	// Shape, for people reading the cache: memory in MiB, CPUs, NICs,
	// whether a disk was attached.
	Memory int  `json:"memory"`
	CPUs   int  `json:"cpus"`
	NICs   int  `json:"nics"`
	Disk   bool `json:"disk"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// readSnapHeader reads and checks the trailer at the end of f, and that
// the sizes it records add up to the file's, leaving f positioned at the
// start of the stream.
func readSnapHeader(f *os.File) (snapHeader, error) {
	var h snapHeader
	fi, err := f.Stat()
	if err != nil {
		return h, err
	}
	size := fi.Size()
	if size < snapTrailerSize {
		return h, fmt.Errorf("want at least %d bytes, got %d", snapTrailerSize, size)
	}
	buf := make([]byte, snapTrailerSize)
	if _, err := f.ReadAt(buf, size-snapTrailerSize); err != nil {
		return h, fmt.Errorf("reading its trailer: %w", err)
	}
	rest, ok := bytes.CutPrefix(buf, []byte(snapMagic))
	if !ok {
		return h, fmt.Errorf("want a trailer starting %q, got %q", snapMagic, buf[:len(snapMagic)])
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	if err := json.Unmarshal(line, &h); err != nil {
		return h, fmt.Errorf("its trailer: %w", err)
	}
	if h.RAMSize < 0 || h.RAMSize%snapPage != 0 || h.StreamSize <= 0 || h.ConsoleSize < 0 ||
		h.RAMSize+h.StreamSize+h.ConsoleSize != size-snapTrailerSize {
		return h, fmt.Errorf("want %d bytes of memory, %d of stream and %d of console, got %d in all",
			h.RAMSize, h.StreamSize, h.ConsoleSize, size-snapTrailerSize)
	}
	if _, err := f.Seek(h.RAMSize, io.SeekStart); err != nil {
		return h, err
	}
	return h, nil
}

// verifySnapshot checks that the memory, stream and console in f have the
// sizes and checksum its trailer records, and leaves f positioned at the
// start of the stream. The memory image's holes are not read: their zeros
// enter the checksum arithmetically.
func verifySnapshot(f *os.File) (snapHeader, error) {
	h, err := readSnapHeader(f)
	if err != nil {
		return h, err
	}
	end := h.RAMSize + h.StreamSize + h.ConsoleSize
	crc := uint32(0)
	buf := make([]byte, 1<<20)
	for off := int64(0); off < end; {
		data, hole := dataExtent(f, off, end)
		crc = crc32Zeros(crc, data-off)
		for off = data; off < hole; {
			n, err := f.ReadAt(buf[:min(int64(len(buf)), hole-off)], off)
			if n == 0 && err != nil {
				return h, fmt.Errorf("reading it: %w", err)
			}
			crc = crc32.Update(crc, castagnoli, buf[:n])
			off += int64(n)
		}
	}
	if crc != h.CRC32C {
		return h, fmt.Errorf("want CRC-32C %08x, got %08x", h.CRC32C, crc)
	}
	if _, err := f.Seek(h.RAMSize, io.SeekStart); err != nil {
		return h, err
	}
	return h, nil
}

// dataExtent returns where the next data at or after off starts in f, and
// where it ends (the next hole), both at most end. A file system that
// does not know holes has data everywhere.
func dataExtent(f *os.File, off, end int64) (data, hole int64) {
	fd := int(f.Fd())
	data, err := unix.Seek(fd, off, unix.SEEK_DATA)
	if err == unix.ENXIO {
		return end, end // only a hole up to the end of the file
	}
	if err != nil {
		return off, end
	}
	data = min(data, end)
	if hole, err = unix.Seek(fd, data, unix.SEEK_HOLE); err != nil || hole <= data {
		hole = end
	}
	return data, min(hole, end)
}

// crc32Zeros returns the CRC-32C of what crc was the checksum of followed
// by n zero bytes, in time logarithmic in n. Appending zeros multiplies the
// (bit-reflected, uninverted) register by x^(8n) modulo the polynomial, as
// in zlib's crc32_combine.
func crc32Zeros(crc uint32, n int64) uint32 {
	if n <= 0 {
		return crc
	}
	// x^(8·2^k) mod P for the set bits k of n.
	p := uint32(1 << 31) // x^0
	for k := 0; n != 0; k, n = k+1, n>>1 {
		if n&1 != 0 {
			p = crcMulMod(crcX8Pow2[k], p)
		}
	}
	return ^crcMulMod(p, ^crc)
}

// crcMulMod multiplies a and b, polynomials over GF(2) in the
// bit-reflected order of crc32, modulo the Castagnoli polynomial.
func crcMulMod(a, b uint32) uint32 {
	var p uint32
	for m := uint32(1 << 31); m != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
		}
		if b&1 != 0 {
			b = b>>1 ^ crc32.Castagnoli
		} else {
			b >>= 1
		}
	}
	return p
}

// crcX8Pow2[k] is x^(8·2^k) mod P: appending 2^k zero bytes.
var crcX8Pow2 = func() (t [64]uint32) {
	p := uint32(1 << 30) // x^1
	for range 3 {
		p = crcMulMod(p, p) // x^2, x^4, x^8
	}
	for k := range t {
		t[k] = p
		p = crcMulMod(p, p)
	}
	return t
}()

// readSnapConsole returns the console text of the snapshot in f, without
// moving f's offset.
func readSnapConsole(f *os.File, h snapHeader) ([]byte, error) {
	b := make([]byte, h.ConsoleSize)
	if _, err := f.ReadAt(b, h.RAMSize+h.StreamSize); err != nil {
		return nil, fmt.Errorf("reading its console: %w", err)
	}
	return b, nil
}

// snapWriter writes a new snapshot file: a temporary file in the
// snapshot directory, renamed into place by commit once it is complete, so
// concurrent vmtest processes never see a partial one. The memory image
// goes first (writeRAM), then the stream (ReadFrom), then commit adds the
// console and the trailer.
type snapWriter struct {
	f    *os.File
	path string
	bw   *bufio.Writer
	crc  uint32
	ram  int64 // bytes of memory image
	n    int64 // bytes of stream and console
}

func newSnapWriter(path string) (*snapWriter, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("creating a boot snapshot: %w", err)
	}
	return &snapWriter{f: f, path: path, bw: bufio.NewWriterSize(f, 1<<20)}, nil
}

// Write adds to the stream part (after the memory image).
func (w *snapWriter) Write(p []byte) (int, error) {
	n, err := w.bw.Write(p)
	w.crc = crc32.Update(w.crc, castagnoli, p[:n])
	w.n += int64(n)
	return n, err
}

// writeRAM copies the guest memory image, size bytes of src, to the start
// of the file, leaving holes where src has holes or zero pages. It must
// come before anything else is written.
func (w *snapWriter) writeRAM(src *os.File, size int64) error {
	if w.ram != 0 || w.n != 0 || size%snapPage != 0 {
		return fmt.Errorf("saving a boot snapshot: %d bytes of memory, after %d bytes", size, w.ram+w.n)
	}
	buf := make([]byte, 1<<20)
	zeros := int64(0) // zero bytes not yet in the checksum
	for off := int64(0); off < size; {
		data, hole := dataExtent(src, off, size)
		zeros += data - off
		for off = data; off < hole; {
			n, err := src.ReadAt(buf[:min(int64(len(buf)), hole-off)], off)
			if n < snapPage && err != nil {
				return fmt.Errorf("saving a boot snapshot: reading the guest's memory: %w", err)
			}
			n -= n % snapPage
			// Write each run of non-zero pages where it belongs.
			for i := 0; i < n; {
				j := i
				for j < n && !allZero(buf[j:j+snapPage]) {
					j += snapPage
				}
				if j > i {
					w.crc = crc32.Update(crc32Zeros(w.crc, zeros), castagnoli, buf[i:j])
					zeros = 0
					if _, err := w.f.WriteAt(buf[i:j], off+int64(i)); err != nil {
						return fmt.Errorf("saving a boot snapshot: %w", err)
					}
				}
				for j < n && allZero(buf[j:j+snapPage]) {
					j += snapPage
					zeros += snapPage
				}
				i = j
			}
			off += int64(n)
		}
	}
	w.crc = crc32Zeros(w.crc, zeros)
	// The file ends at the end of the memory even if its last pages were
	// zero; the stream follows.
	if err := w.f.Truncate(size); err != nil {
		return fmt.Errorf("saving a boot snapshot: %w", err)
	}
	if _, err := w.f.Seek(size, io.SeekStart); err != nil {
		return err
	}
	w.ram = size
	return nil
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// ReadFrom copies the migration stream from r until its end.
func (w *snapWriter) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(struct{ io.Writer }{w}, r)
}

// commit appends console and the trailer and renames the file into place.
// It does not sync: a file cut short or garbled by a host crash fails its
// checks and is rebuilt, and the first machine of a run does not wait for
// the disk.
func (w *snapWriter) commit(h snapHeader, console []byte) error {
	if w.n == 0 {
		w.abort()
		return errors.New("saving a boot snapshot: qemu sent an empty migration stream")
	}
	stream := w.n
	if _, err := w.Write(console); err != nil {
		w.abort()
		return fmt.Errorf("saving a boot snapshot: %w", err)
	}
	h.RAMSize, h.StreamSize, h.ConsoleSize, h.CRC32C = w.ram, stream, int64(len(console)), w.crc
	line, err := json.Marshal(h)
	if err != nil {
		w.abort()
		return err
	}
	trailer := make([]byte, snapTrailerSize)
	if len(snapMagic)+len(line)+1 > len(trailer) {
		w.abort()
		return fmt.Errorf("saving a boot snapshot: a trailer of %d bytes does not fit in %d", len(line), len(trailer))
	}
	copy(trailer[copy(trailer, snapMagic):], append(line, '\n'))
	_, err = w.bw.Write(trailer)
	if err == nil {
		err = w.bw.Flush()
	}
	if err == nil {
		err = w.f.Close()
	}
	if err == nil {
		err = os.Rename(w.f.Name(), w.path)
	}
	if err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("saving a boot snapshot: %w", err)
	}
	return nil
}

// abort removes the temporary file.
func (w *snapWriter) abort() {
	w.f.Close()
	os.Remove(w.f.Name())
}
