package vm

import (
	"bytes"
	"context"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testRAM is a small guest memory image: a hole, a zero page written
// out, some data, and a hole up to its end.
func testRAM(t *testing.T) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "ram")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	f.WriteAt(make([]byte, snapPage), 3*snapPage)
	f.WriteAt(bytes.Repeat([]byte("RAM!"), 2*snapPage/4+7), 5*snapPage)
	f.Truncate(16 * snapPage)
	return f
}

// writeSnap writes a snapshot file for key in s's directory with the
// memory of testRAM and the given stream and console, as a save would.
func writeSnap(t *testing.T, s *snapshotStore, key string, stream, console []byte) string {
	t.Helper()
	w, err := newSnapWriter(s.path(key))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.writeRAM(testRAM(t), 16*snapPage); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ReadFrom(bytes.NewReader(stream)); err != nil {
		t.Fatal(err)
	}
	if err := w.commit(snapHeader{Memory: 512, CPUs: 1}, console); err != nil {
		t.Fatal(err)
	}
	return s.path(key)
}

func TestSnapshotFileRoundTrip(t *testing.T) {
	s, err := newSnapshotStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stream := bytes.Repeat([]byte("QEVM"), 5000)
	path := writeSnap(t, s, "k", stream, []byte("vmtest: agent starting\n"))
	p, err := s.plan(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	if p.revive == nil || p.build {
		t.Fatalf("plan for a good snapshot: revive %v, build %v, note %q", p.revive != nil, p.build, p.note)
	}
	defer p.revive.Close()
	// QEMU reads the stream from the descriptor's offset: exactly it.
	got := make([]byte, len(stream))
	if _, err := io.ReadFull(p.revive, got); err != nil || !bytes.Equal(got, stream) {
		t.Errorf("the descriptor does not start at the stream: %v", err)
	}
	if string(p.console) != "vmtest: agent starting\n" {
		t.Errorf("console = %q", p.console)
	}
	// The memory image is at the start of the file, as QEMU maps it.
	b, _ := os.ReadFile(path)
	ram, _ := io.ReadAll(io.NewSectionReader(testRAM(t), 0, 16*snapPage))
	if p.header.RAMSize != int64(len(ram)) || !bytes.Equal(b[:len(ram)], ram) {
		t.Errorf("the file does not start with the memory image (%d bytes, header says %d)", len(ram), p.header.RAMSize)
	}
	if trailer := b[len(b)-snapTrailerSize:]; !bytes.HasPrefix(trailer, []byte(snapMagic+"{")) {
		t.Errorf("trailer starts %q", trailer[:40])
	}
	// Its zero pages are holes (where the file system has them).
	f, _ := os.Open(path)
	defer f.Close()
	if data, hole := dataExtent(f, 0, 16*snapPage); data != 0 && (data != 5*snapPage || hole != 8*snapPage) {
		t.Errorf("the memory's data is at [%d, %d), want [%d, %d)", data, hole, 5*snapPage, 8*snapPage)
	}
}

func TestCRC32Zeros(t *testing.T) {
	for _, n := range []int64{0, 1, 7, 4096, 12345, 1 << 20} {
		for _, crc := range []uint32{0, 0xdeadbeef} {
			want := crc32.Update(crc, castagnoli, make([]byte, n))
			if got := crc32Zeros(crc, n); got != want {
				t.Errorf("crc32Zeros(%08x, %d) = %08x, want %08x", crc, n, got, want)
			}
		}
	}
}

func TestCorruptSnapshotIsRemovedAndBuilt(t *testing.T) {
	for name, damage := range map[string]func(path string){
		"truncated": func(path string) {
			fi, _ := os.Stat(path)
			os.Truncate(path, fi.Size()-1)
		},
		"byte changed": func(path string) {
			f, _ := os.OpenFile(path, os.O_RDWR, 0)
			f.WriteAt([]byte{'X'}, 16*snapPage+10)
			f.Close()
		},
		"hole filled": func(path string) {
			f, _ := os.OpenFile(path, os.O_RDWR, 0)
			f.WriteAt([]byte{1}, 10*snapPage)
			f.Close()
		},
		"no trailer": func(path string) { os.WriteFile(path, []byte("garbage"), 0o600) },
	} {
		t.Run(name, func(t *testing.T) {
			s, _ := newSnapshotStore(t.TempDir())
			path := writeSnap(t, s, "k", bytes.Repeat([]byte("QEVM"), 5000), nil)
			damage(path)
			p, err := s.plan(context.Background(), "k")
			if err != nil {
				t.Fatal(err)
			}
			if p.revive != nil || !p.build || !strings.Contains(p.note, "corrupt") {
				t.Fatalf("plan: revive %v, build %v, note %q; want a build saying the file was corrupt", p.revive != nil, p.build, p.note)
			}
			p.done(nil)
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("the corrupt file is still there: %v", err)
			}
		})
	}
}

// TestPlanWaitsForTheBuilder checks that machines of a shape planned while
// one builds its snapshot wait for it, and revive once it is saved.
func TestPlanWaitsForTheBuilder(t *testing.T) {
	s, _ := newSnapshotStore(t.TempDir())
	ctx := context.Background()
	first, err := s.plan(ctx, "k")
	if err != nil || !first.build {
		t.Fatalf("first plan: %+v, %v; want a build", first, err)
	}
	second := make(chan *bootPlan)
	go func() {
		p, _ := s.plan(ctx, "k")
		second <- p
	}()
	select {
	case <-second:
		t.Fatal("a second plan did not wait for the builder")
	case <-time.After(50 * time.Millisecond):
	}
	writeSnap(t, s, "k", []byte("stream"), nil)
	first.done(nil)
	p := <-second
	if p.revive == nil {
		t.Fatalf("after the save: %+v; want a revive", p)
	}
	p.revive.Close()

	// A builder that fails makes the others boot cold at once.
	s2, _ := newSnapshotStore(t.TempDir())
	b, _ := s2.plan(ctx, "k")
	b.done(os.ErrDeadlineExceeded)
	c, _ := s2.plan(ctx, "k")
	if c.revive != nil || c.build {
		t.Fatalf("after a failed build: %+v; want a plain cold boot", c)
	}

	// Waiting ends with the context.
	s3, _ := newSnapshotStore(t.TempDir())
	s3.plan(ctx, "k")
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := s3.plan(cctx, "k"); err == nil {
		t.Fatal("a plan waiting on a builder ignored its context")
	}
}

func TestPruneKeepsTheMostRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	s, _ := newSnapshotStore(dir)
	old := time.Now().Add(-time.Hour)
	for i := 0; i < maxSnapshots+2; i++ {
		key := string(rune('a' + i))
		p := writeSnap(t, s, key, []byte("stream"), nil)
		// a and b were used longest ago.
		used := old.Add(time.Duration(i) * time.Minute)
		os.Chtimes(p, used, used)
	}
	stale := filepath.Join(dir, ".z.snap.tmp-1")
	os.WriteFile(stale, nil, 0o600)
	os.Chtimes(stale, old.Add(-time.Hour), old.Add(-time.Hour))
	s.prune()
	c, err := ReadSnapshotCache(dir)
	if err != nil || c.Count != maxSnapshots {
		t.Fatalf("after prune: %+v, %v; want %d snapshots", c, err, maxSnapshots)
	}
	for _, gone := range []string{"a", "b"} {
		if _, err := os.Stat(s.path(gone)); !os.IsNotExist(err) {
			t.Errorf("snapshot %s, the least recently used, was kept", gone)
		}
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a stale temporary file was kept")
	}
}

func TestConsoleCaptureStopsAtTake(t *testing.T) {
	c := &consoleCapture{max: 8}
	c.Write([]byte("hello "))
	c.Write([]byte("world"))
	if got := string(c.take()); got != "hello wo" {
		t.Errorf("captured %q, want the first 8 bytes", got)
	}
	if n, err := c.Write([]byte("more")); n != 4 || err != nil {
		t.Errorf("Write after take: %d, %v", n, err)
	}
}

func TestCheckGuestClock(t *testing.T) {
	if err := checkGuestClock(1800*time.Millisecond, 2500*time.Millisecond); err != nil {
		t.Errorf("a guest up 1.8 s 2.5 s after its QEMU started: %v", err)
	}
	if err := checkGuestClock(57*time.Second, 10*time.Second); err == nil {
		t.Error("a guest up 57 s 10 s after its QEMU started was accepted")
	}
}

func TestOwnsMemory(t *testing.T) {
	for _, c := range []struct {
		opts []string
		want bool
	}{
		{nil, false},
		{[]string{"-device", "virtio-rng-pci", "-smp", "2"}, false},
		{[]string{"-mem-path", "/dev/hugepages"}, true},
		{[]string{"-mem-prealloc"}, true},
		{[]string{"-object", "memory-backend-ram,id=m0,size=512M", "-numa", "node,memdev=m0"}, true},
		{[]string{"-machine", "q35,memory-backend=m0"}, true},
	} {
		if got := ownsMemory(c.opts); got != c.want {
			t.Errorf("ownsMemory(%q) = %v, want %v", c.opts, got, c.want)
		}
	}
}
