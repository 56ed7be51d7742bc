package vm

import (
	"bytes"
	"encoding/json"
	"hash/crc32"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// snapParts returns a snapshot file of ram, stream and console split
// into its body and its trailer, whose header hdr completes (sizes and
// checksum).
func snapParts(ram, stream, console []byte, hdr snapHeader) [2][]byte {
	body := bytes.Join([][]byte{ram, stream, console}, nil)
	hdr.RAMSize, hdr.StreamSize, hdr.ConsoleSize = int64(len(ram)), int64(len(stream)), int64(len(console))
	hdr.CRC32C = crc32.Checksum(body, castagnoli)
	line, _ := json.Marshal(hdr)
	return [2][]byte{body, []byte(snapMagic + string(line) + "\n")}
}

// FuzzSnapshotFile: a snapshot file in the cache (which other processes
// of the user write) is read back, trailer and console, or refused with
// an error; what it accepts adds up, and it never allocates what the file
// does not hold. The input is the file's body and its trailer (padded
// with zeros to its size), so that the fuzzer works on the trailer.
func FuzzSnapshotFile(f *testing.F) {
	for _, seed := range [][2][]byte{
		snapParts(make([]byte, snapPage), []byte("stream"), []byte("console\n"), snapHeader{Memory: 64, CPUs: 1}),
		snapParts(nil, []byte("s"), nil, snapHeader{}),
	} {
		f.Add(seed[0], seed[1])
	}
	f.Add([]byte("stream"), []byte(snapMagic+`{"ram_size":0,"stream_size":1,"console_size":9223372036854775807}`))
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, body, trailer []byte) {
		if len(trailer) > snapTrailerSize {
			return
		}
		// In memory, as a file system's writes would slow it down.
		fd, err := unix.MemfdCreate("snap", unix.MFD_CLOEXEC)
		if err != nil {
			t.Fatal(err)
		}
		sf := os.NewFile(uintptr(fd), "snap")
		defer sf.Close()
		data := append(append(body, trailer...), make([]byte, snapTrailerSize-len(trailer))...)
		if _, err := sf.Write(data); err != nil {
			t.Fatal(err)
		}
		h, err := verifySnapshot(sf)
		if err != nil {
			return
		}
		if h.RAMSize < 0 || h.StreamSize <= 0 || h.ConsoleSize < 0 || h.RAMSize+h.StreamSize+h.ConsoleSize != int64(len(body)) {
			t.Fatalf("accepted sizes %d+%d+%d for a body of %d bytes", h.RAMSize, h.StreamSize, h.ConsoleSize, len(body))
		}
		console, err := readSnapConsole(sf, h)
		if err != nil || int64(len(console)) != h.ConsoleSize {
			t.Fatalf("console: %d bytes, %v; want %d", len(console), err, h.ConsoleSize)
		}
	})
}
