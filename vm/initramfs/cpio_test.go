package initramfs

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

type cpioEntry struct {
	name         string
	mode         uint32
	nlink        uint32
	rmaj, rmin   uint32
	data         []byte
	offsetOfData int
}

// readCPIO parses a newc archive strictly: magic, field syntax, 4-byte
// alignment of names and data, zero padding, and a final trailer.
func readCPIO(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	off := 0
	align := func() {
		for off%4 != 0 {
			if off >= len(b) || b[off] != 0 {
				t.Fatalf("cpio: non-zero padding at %d", off)
			}
			off++
		}
	}
	for {
		if off+110 > len(b) {
			t.Fatalf("cpio: archive ends at %d without a trailer", off)
		}
		h := string(b[off : off+110])
		if h[:6] != "070701" {
			t.Fatalf("cpio: magic %q at %d, want 070701", h[:6], off)
		}
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(h[6+8*i:14+8*i], 16, 32)
			if err != nil {
				t.Fatalf("cpio: field %d at %d: %v", i, off, err)
			}
			return uint32(v)
		}
		namesize := int(field(11))
		size := int(field(6))
		if field(12) != 0 {
			t.Fatalf("cpio: check field not zero at %d", off)
		}
		off += 110
		name := string(b[off : off+namesize])
		if !strings.HasSuffix(name, "\x00") {
			t.Fatalf("cpio: name %q not NUL-terminated", name)
		}
		name = strings.TrimSuffix(name, "\x00")
		off += namesize
		align()
		e := cpioEntry{name: name, mode: field(1), nlink: field(4), rmaj: field(9), rmin: field(10), offsetOfData: off}
		e.data = b[off : off+size]
		off += size
		align()
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Fatalf("cpio: %d bytes after the trailer", len(b)-off)
			}
			return out
		}
		out = append(out, e)
	}
}

func byName(entries []cpioEntry) map[string]cpioEntry {
	m := map[string]cpioEntry{}
	for _, e := range entries {
		m[e.name] = e
	}
	return m
}

func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.WriteDir("/etc", 0o755))
	must(w.WriteDir("etc", 0o700)) // again: no-op
	for n := 0; n <= 5; n++ {      // every padding length
		must(w.WriteFile("etc/f"+strconv.Itoa(n), 0o644, bytes.Repeat([]byte("x"), n)))
	}
	must(w.WriteFile("/usr/lib/deep/file", 0o755|os.ModeSetuid, []byte("deep")))
	must(w.WriteFileFrom("big", 0o600, 3, strings.NewReader("abcdef")))
	must(w.WriteSymlink("bin", "usr/bin"))
	must(w.WriteDir("tmp", os.ModeSticky|0o777))
	must(w.WriteCharDevice("dev/console", 0o600, 5, 1))
	must(w.Close())

	entries := readCPIO(t, buf.Bytes())
	var names []string
	for _, e := range entries {
		names = append(names, e.name)
		if e.offsetOfData%4 != 0 {
			t.Errorf("%s: data at offset %d, not 4-byte aligned", e.name, e.offsetOfData)
		}
	}
	want := []string{"etc", "etc/f0", "etc/f1", "etc/f2", "etc/f3", "etc/f4", "etc/f5",
		"usr", "usr/lib", "usr/lib/deep", "usr/lib/deep/file", "big", "bin", "tmp", "dev", "dev/console"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("entries %v, want %v (parents before children)", names, want)
	}
	m := byName(entries)
	for name, mode := range map[string]uint32{
		"etc": 0o40755, "etc/f3": 0o100644, "usr/lib": 0o40755, "usr/lib/deep/file": 0o104755,
		"big": 0o100600, "bin": 0o120777, "tmp": 0o41777, "dev/console": 0o20600,
	} {
		if m[name].mode != mode {
			t.Errorf("%s: mode %o, want %o", name, m[name].mode, mode)
		}
	}
	if got := string(m["etc/f5"].data); got != "xxxxx" {
		t.Errorf("etc/f5 = %q", got)
	}
	if got := string(m["big"].data); got != "abc" {
		t.Errorf("big = %q, want the first 3 bytes", got)
	}
	if got := string(m["bin"].data); got != "usr/bin" {
		t.Errorf("bin -> %q", got)
	}
	if c := m["dev/console"]; c.rmaj != 5 || c.rmin != 1 {
		t.Errorf("dev/console is %d:%d, want 5:1", c.rmaj, c.rmin)
	}
	if m["etc"].nlink != 2 || m["etc/f1"].nlink != 1 {
		t.Errorf("nlink: dir %d, file %d; want 2 and 1", m["etc"].nlink, m["etc/f1"].nlink)
	}

	// Writing the same inputs gives the same bytes.
	var again bytes.Buffer
	w2 := NewWriter(&again)
	w2.WriteFile("a", 0o644, []byte("1"))
	w2.Close()
	var again2 bytes.Buffer
	w3 := NewWriter(&again2)
	w3.WriteFile("a", 0o644, []byte("1"))
	w3.Close()
	if !bytes.Equal(again.Bytes(), again2.Bytes()) {
		t.Error("same entries, different archives")
	}
}

// The cpio tool agrees with Writer on names, types and contents.
func TestWriterCPIOTool(t *testing.T) {
	cpioPath, err := exec.LookPath("cpio")
	if err != nil {
		t.Skip("no cpio tool")
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.WriteFile("init", 0o755, []byte("#!/bin/sh\n"))
	w.WriteFile("lib/modules/6.1.0/kernel/x.ko", 0o644, bytes.Repeat([]byte{0xee}, 1001))
	w.WriteSymlink("lib/link", "modules")
	w.WriteDir("tmp", os.ModeSticky|0o777)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(cpioPath, "-t", "--quiet")
	cmd.Stdin = bytes.NewReader(buf.Bytes())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v\n%s", err, out)
	}
	got := strings.Fields(string(out))
	sort.Strings(got)
	want := []string{"init", "lib", "lib/link", "lib/modules", "lib/modules/6.1.0", "lib/modules/6.1.0/kernel", "lib/modules/6.1.0/kernel/x.ko", "tmp"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("cpio -t lists %v, want %v", got, want)
	}

	dir := t.TempDir()
	cmd = exec.Command(cpioPath, "-i", "-d", "--quiet", "--no-absolute-filenames")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(buf.Bytes())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "lib/modules/6.1.0/kernel/x.ko")); err != nil || len(b) != 1001 || b[1000] != 0xee {
		t.Errorf("extracted module: %d bytes, %v", len(b), err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "init")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("extracted init: %v, %v", fi, err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "lib/link")); err != nil || target != "modules" {
		t.Errorf("extracted link -> %q, %v", target, err)
	}
}

func TestWriterErrors(t *testing.T) {
	w := NewWriter(&bytes.Buffer{})
	w.WriteFile("a", 0o644, nil)
	if err := w.WriteFile("/a", 0o644, nil); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("duplicate file: %v", err)
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close after an error succeeded")
	}

	w = NewWriter(&bytes.Buffer{})
	err := w.WriteFileFrom("short", 0o644, 10, strings.NewReader("abc"))
	if err == nil || !strings.Contains(err.Error(), "want 10 bytes") {
		t.Fatalf("short reader: %v", err)
	}

	for _, name := range []string{"", "/", ".", "a\x00b"} {
		if err := NewWriter(&bytes.Buffer{}).WriteFile(name, 0o644, nil); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
	// ".." cannot climb out of the archive.
	var buf bytes.Buffer
	w = NewWriter(&buf)
	w.WriteFile("../../etc/passwd", 0o644, nil)
	w.Close()
	if e := readCPIO(t, buf.Bytes()); e[len(e)-1].name != "etc/passwd" {
		t.Errorf("../../etc/passwd stored as %q", e[len(e)-1].name)
	}

	boom := errors.New("disk full")
	w = NewWriter(failWriter{boom})
	if err := w.WriteFile("x", 0o644, []byte("x")); !errors.Is(err, boom) {
		t.Fatalf("write error: %v", err)
	}
	if err := w.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close after a write error: %v", err)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }
