package vm_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmtest/vmtest/runtime/vswitch"
	"github.com/vmtest/vmtest/vm"
	"github.com/vmtest/vmtest/vm/disk"
)

// snapshotArtifacts prepares artifacts like TestMain's, but with a boot
// snapshot directory of the test's own, empty at first.
func snapshotArtifacts(t *testing.T) (*vm.Artifacts, string) {
	t.Helper()
	dir := t.TempDir()
	a, err := vm.Prepare(context.Background(), vm.Options{Agent: agentBin, SnapshotDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return a, dir
}

// startOn boots a machine from a, with a fresh disk, like boot.
func startOn(t *testing.T, a *vm.Artifacts, rd *vm.RunDir, i int, name string, mod func(*vm.Config)) *vm.Machine {
	t.Helper()
	dir, err := rd.Machine(i)
	if err != nil {
		t.Fatal(err)
	}
	img, err := disk.Create(context.Background(), filepath.Join(dir, "disk.img"), disk.DefaultSize)
	if err != nil {
		t.Fatal(err)
	}
	cfg := vm.Config{Name: name, Disk: img, Dir: dir, Console: testWriter{t, name}}
	if mod != nil {
		mod(&cfg)
	}
	m, err := vm.Start(context.Background(), a, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func snapshotFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.snap"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestRevivedMachinesDiffer boots one machine cold, which saves the boot
// snapshot of its shape, then two more of the same shape at once, which
// are revived from it, and checks that the two have identities of their
// own: MACs, addresses, host names, boot ids, random numbers, and clocks
// set from the host's.
func TestRevivedMachinesDiffer(t *testing.T) {
	a, snapDir := snapshotArtifacts(t)
	rd, err := vm.NewRunDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Remove() })
	sw := vswitch.New(rd.Path)
	t.Cleanup(func() { sw.Close() })
	withNIC := func(n int) func(*vm.Config) {
		return func(c *vm.Config) {
			sock, err := sw.Attach(1, c.Name)
			if err != nil {
				t.Fatal(err)
			}
			c.NICs = []vm.NIC{{
				MAC:    fmt.Sprintf("52:54:00:99:01:%02x", n),
				Socket: sock,
				Addrs:  []string{fmt.Sprintf("192.168.1.%d/24", n)},
			}}
		}
	}
	first := startOn(t, a, rd, 0, "first", withNIC(1))
	if b := first.LastBoot(); b.Revived || !b.Saved {
		t.Fatalf("the first machine of a shape: %+v, want a cold boot that saved the snapshot", b)
	}
	if n := len(snapshotFiles(t, snapDir)); n != 1 {
		t.Fatalf("%d snapshot files after the first boot, want 1", n)
	}
	first.Close()

	ms := make([]*vm.Machine, 2)
	var wg sync.WaitGroup
	for i := range ms {
		wg.Go(func() { ms[i] = startOn(t, a, rd, i+1, fmt.Sprintf("revived%d", i+2), withNIC(i+2)) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	type identity struct{ mac, addr, host, bootID, random string }
	var ids []identity
	for i, m := range ms {
		if b := m.LastBoot(); !b.Revived {
			t.Fatalf("%s: %+v, want it revived from the snapshot", m.Name(), b)
		}
		// Its console shows the boot that saved the snapshot, then itself.
		if tail := strings.Join(m.ConsoleTail(40), "\n"); !strings.Contains(tail, "vmtest agent") || !strings.Contains(tail, "revived here from boot snapshot") {
			t.Errorf("%s's console does not show the boot it was revived from:\n%s", m.Name(), tail)
		}
		n := i + 2
		id := identity{
			mac:    strings.TrimSpace(sh(t, m, "cat /sys/class/net/eth0/address")),
			addr:   strings.TrimSpace(sh(t, m, "ip -4 -o addr show dev eth0 | awk '{print $4}'")),
			host:   strings.TrimSpace(sh(t, m, "hostname")),
			bootID: strings.TrimSpace(sh(t, m, "cat /proc/sys/kernel/random/boot_id")),
			random: strings.TrimSpace(sh(t, m, "head -c 16 /dev/urandom | od -An -tx1")),
		}
		want := identity{mac: fmt.Sprintf("52:54:00:99:01:%02x", n), addr: fmt.Sprintf("192.168.1.%d/24", n), host: m.Name()}
		if id.mac != want.mac || id.addr != want.addr || id.host != want.host {
			t.Errorf("%s has MAC %s, address %s, host name %s; want %s, %s, %s", m.Name(), id.mac, id.addr, id.host, want.mac, want.addr, want.host)
		}
		ids = append(ids, id)

		// The guest's clock is the host's, within a second.
		before := time.Now()
		out := strings.TrimSpace(sh(t, m, "date +%s.%N"))
		after := time.Now()
		secs, err := strconv.ParseFloat(out, 64)
		if err != nil {
			t.Fatalf("%s: date says %q", m.Name(), out)
		}
		guest := time.Unix(0, int64(secs*1e9))
		if guest.Before(before.Add(-time.Second)) || guest.After(after.Add(time.Second)) {
			t.Errorf("%s's clock says %s, the host's was between %s and %s", m.Name(), guest.Format(time.StampMicro), before.Format(time.StampMicro), after.Format(time.StampMicro))
		}
	}
	if ids[0].bootID == ids[1].bootID {
		t.Errorf("both revived machines have boot id %s", ids[0].bootID)
	}
	if ids[0].random == ids[1].random {
		t.Errorf("both revived machines read %s from /dev/urandom", ids[0].random)
	}
	// Their NICs work with the MACs they were given: they reach each
	// other through the switch, which only learns what they send.
	if code, out := run(t, ms[0], "ping -c 1 -W 5 192.168.1.3"); code != 0 {
		t.Errorf("revived2 cannot ping revived3: %s", out)
	}
}

// TestCorruptSnapshotIsRebuilt damages the snapshot in two ways — a byte
// changed, which its checksum catches, and a stream QEMU cannot load with
// a checksum that matches — and checks that each time the machine boots
// cold, saves the snapshot again, and the next one is revived from it.
func TestCorruptSnapshotIsRebuilt(t *testing.T) {
	a, snapDir := snapshotArtifacts(t)
	rd, err := vm.NewRunDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Remove() })
	noDisk := func(c *vm.Config) { c.Disk = disk.Image{} }

	m := startOn(t, a, rd, 0, "saver", noDisk)
	m.Close()
	files := snapshotFiles(t, snapDir)
	if len(files) != 1 {
		t.Fatalf("%d snapshot files, want 1", len(files))
	}
	snap := files[0]

	// One byte in the middle of the stream changes.
	f, err := os.OpenFile(snap, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	b := make([]byte, 1)
	f.ReadAt(b, fi.Size()/2)
	b[0] ^= 0xff
	f.WriteAt(b, fi.Size()/2)
	f.Close()
	m = startOn(t, a, rd, 1, "checksum", noDisk)
	if b := m.LastBoot(); b.Revived || !b.Saved {
		t.Fatalf("after a changed byte: %+v, want a cold boot that saved the snapshot again", b)
	}
	if got := sh(t, m, "hostname"); got != "checksum\n" {
		t.Fatalf("hostname = %q", got)
	}
	m.Close()

	// A stream QEMU refuses, under a header whose checksum matches it.
	if err := vm.RewriteSnapshotStream(snap, []byte("not a migration stream")); err != nil {
		t.Fatal(err)
	}
	m = startOn(t, a, rd, 2, "refused", noDisk)
	if b := m.LastBoot(); b.Revived || !b.Saved {
		t.Fatalf("after a refused snapshot: %+v, want a cold boot that saved the snapshot again", b)
	}
	m.Close()

	m = startOn(t, a, rd, 3, "healed", noDisk)
	if b := m.LastBoot(); !b.Revived {
		t.Fatalf("after the rebuild: %+v, want the machine revived", b)
	}
	if got := sh(t, m, "hostname"); got != "healed\n" {
		t.Fatalf("hostname = %q", got)
	}
}
