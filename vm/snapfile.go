package vm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"
)

// A snapshot file is a header of snapHeaderSize bytes, a QEMU migration
// stream, and what the saving machine printed on its console up to the
// snapshot (replayed on the console of every machine revived from it, so
// that its console log, and waits for console text, see a whole boot).
// The header is text: a magic line, then one line of JSON (snapHeader),
// then zero bytes up to its size. QEMU is given the file's descriptor
// positioned after the header (-incoming fd:N reads on from the current
// offset, and stops at the end of the stream), so the stream needs no
// copy; `tail -c +4097 FILE` extracts it. Keeping the checksum inside the
// file, rather than in a side file, makes the rename that publishes a
// snapshot publish its checksum with it: no reader can pair a new stream
// with an old sum.
const (
	snapMagic      = "vmtest boot snapshot 1\n"
	snapHeaderSize = 4096
)

// snapHeader describes the stream that follows it.
type snapHeader struct {
	StreamSize  int64     `json:"stream_size"`
	ConsoleSize int64     `json:"console_size"`
	CRC32C      uint32    `json:"crc32c"` // of the stream and the console
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

// readSnapHeader reads and checks the header at the start of f, leaving f
// positioned after it.
func readSnapHeader(f *os.File) (snapHeader, error) {
	var h snapHeader
	buf := make([]byte, snapHeaderSize)
	if _, err := io.ReadFull(f, buf); err != nil {
		return h, fmt.Errorf("reading its header: want %d bytes: %v", snapHeaderSize, err)
	}
	rest, ok := bytes.CutPrefix(buf, []byte(snapMagic))
	if !ok {
		return h, fmt.Errorf("want a header starting %q, got %q", snapMagic, buf[:min(len(snapMagic), 32)])
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	if err := json.Unmarshal(line, &h); err != nil {
		return h, fmt.Errorf("its header: %v", err)
	}
	return h, nil
}

// verifySnapshot checks that the stream and console in f have the sizes
// and checksum its header records, and leaves f positioned at the start of
// the stream.
func verifySnapshot(f *os.File) (snapHeader, error) {
	h, err := readSnapHeader(f)
	if err != nil {
		return h, err
	}
	fi, err := f.Stat()
	if err != nil {
		return h, err
	}
	if got := fi.Size() - snapHeaderSize; got != h.StreamSize+h.ConsoleSize || h.StreamSize <= 0 || h.ConsoleSize < 0 {
		return h, fmt.Errorf("want %d bytes of stream and %d of console, got %d in all", h.StreamSize, h.ConsoleSize, got)
	}
	c := crc32.New(castagnoli)
	if _, err := io.Copy(c, bufio.NewReaderSize(f, 1<<20)); err != nil {
		return h, fmt.Errorf("reading it: %v", err)
	}
	if got := c.Sum32(); got != h.CRC32C {
		return h, fmt.Errorf("want CRC-32C %08x, got %08x", h.CRC32C, got)
	}
	if _, err := f.Seek(snapHeaderSize, io.SeekStart); err != nil {
		return h, err
	}
	return h, nil
}

// readSnapConsole returns the console text of the snapshot in f, without
// moving f's offset.
func readSnapConsole(f *os.File, h snapHeader) ([]byte, error) {
	b := make([]byte, h.ConsoleSize)
	if _, err := f.ReadAt(b, snapHeaderSize+h.StreamSize); err != nil {
		return nil, fmt.Errorf("reading its console: %v", err)
	}
	return b, nil
}

// snapWriter writes a new snapshot file: a temporary file in the
// snapshot directory, renamed into place by commit once it is complete, so
// concurrent vmtest processes never see a partial one.
type snapWriter struct {
	f    *os.File
	path string
	bw   *bufio.Writer
	crc  hash.Hash32
	n    int64
}

func newSnapWriter(path string) (*snapWriter, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("creating a boot snapshot: %v", err)
	}
	if _, err := f.Seek(snapHeaderSize, io.SeekStart); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &snapWriter{f: f, path: path, bw: bufio.NewWriterSize(f, 1<<20), crc: crc32.New(castagnoli)}, nil
}

// ReadFrom copies the migration stream from r until its end.
func (w *snapWriter) ReadFrom(r io.Reader) (int64, error) {
	n, err := io.Copy(io.MultiWriter(w.bw, w.crc), r)
	w.n += n
	return n, err
}

// commit appends console, writes the header and renames the file into
// place. It does not
// sync: a file cut short or garbled by a host crash fails its checksum and
// is rebuilt, and the first machine of a run does not wait for the disk.
func (w *snapWriter) commit(h snapHeader, console []byte) error {
	if w.n == 0 {
		w.abort()
		return errors.New("saving a boot snapshot: qemu sent an empty migration stream")
	}
	if _, err := w.ReadFrom(bytes.NewReader(console)); err != nil {
		w.abort()
		return fmt.Errorf("saving a boot snapshot: %v", err)
	}
	h.StreamSize, h.ConsoleSize, h.CRC32C = w.n-int64(len(console)), int64(len(console)), w.crc.Sum32()
	line, err := json.Marshal(h)
	if err != nil {
		w.abort()
		return err
	}
	hdr := make([]byte, snapHeaderSize)
	if len(snapMagic)+len(line)+1 > len(hdr) {
		w.abort()
		return fmt.Errorf("saving a boot snapshot: a header of %d bytes does not fit in %d", len(line), len(hdr))
	}
	copy(hdr[copy(hdr, snapMagic):], append(line, '\n'))
	err = w.bw.Flush()
	if err == nil {
		_, err = w.f.WriteAt(hdr, 0)
	}
	if err == nil {
		err = w.f.Close()
	}
	if err == nil {
		err = os.Rename(w.f.Name(), w.path)
	}
	if err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("saving a boot snapshot: %v", err)
	}
	return nil
}

// abort removes the temporary file.
func (w *snapWriter) abort() {
	w.f.Close()
	os.Remove(w.f.Name())
}
