package vm_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmtest/vmtest/internal/vmtestbin"
	"github.com/vmtest/vmtest/vm"
	"github.com/vmtest/vmtest/vm/disk"
	"github.com/vmtest/vmtest/vm/guest"
)

// art is what every machine in these tests boots from, prepared once by
// TestMain with a freshly built static agent.
var art *vm.Artifacts

// agentBin is the static vmtest binary TestMain built for the guests.
var agentBin string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		flag.Parse()
		if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
			return m.Run() // a fuzz worker runs one fuzz target, which boots nothing
		}
		dir, err := os.MkdirTemp("", "vmtest-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		bin, err := vmtestbin.Build(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		agentBin = bin
		art, err = vm.Prepare(context.Background(), vm.Options{Agent: bin})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}())
}

// boot starts a machine called name with a fresh disk; it is stopped and
// its run directory removed when the test ends.
func boot(t *testing.T, name string, mod func(*vm.Config)) *vm.Machine {
	t.Helper()
	dir, img := scratch(t)
	cfg := vm.Config{Name: name, Disk: img, Dir: dir, Console: testWriter{t, name}}
	if mod != nil {
		mod(&cfg)
	}
	m, err := vm.Start(context.Background(), art, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// scratch returns a machine directory in a fresh run directory and a fresh
// disk in it, both removed when the test ends.
func scratch(t *testing.T) (string, disk.Image) {
	t.Helper()
	rd, err := vm.NewRunDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Remove() })
	dir, err := rd.Machine(0)
	if err != nil {
		t.Fatal(err)
	}
	img, err := disk.Create(context.Background(), filepath.Join(dir, "disk.img"), disk.DefaultSize)
	if err != nil {
		t.Fatal(err)
	}
	return dir, img
}

// testWriter logs console lines through the test, shown with -v or on
// failure.
type testWriter struct {
	t    *testing.T
	name string
}

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s console: %s", w.name, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// sh runs a shell command and returns its stdout, failing the test on a
// non-zero status.
func sh(t *testing.T, m *vm.Machine, cmd string) string {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := m.Exec(ctx, guest.Command{Shell: cmd, Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	if st.Exit != 0 {
		t.Fatalf("%s: %+v\nstdout: %s\nstderr: %s", cmd, st, out.String(), errb.String())
	}
	return out.String()
}

func TestGuestSeesHostRootAndOwnIdentity(t *testing.T) {
	m := boot(t, "alpha", nil)
	want, err := os.ReadFile("/etc/debian_version")
	if err != nil {
		t.Fatal(err)
	}
	if got := sh(t, m, "cat /etc/debian_version"); got != string(want) {
		t.Errorf("guest /etc/debian_version = %q, host has %q", got, want)
	}
	if got := sh(t, m, "hostname"); got != "alpha\n" {
		t.Errorf("hostname = %q, want alpha", got)
	}
	// /tmp is the guest's own, empty at first; the root is writable without
	// touching the host.
	if got := sh(t, m, "ls -A /tmp | wc -l"); strings.TrimSpace(got) != "0" {
		t.Errorf("guest /tmp has %s entries, want an empty /tmp", got)
	}
	marker := fmt.Sprintf("/usr/local/vmtest-marker-%d", time.Now().UnixNano())
	sh(t, m, "echo hi > "+marker)
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		os.Remove(marker)
		t.Fatalf("a write in the guest reached the host: %v", err)
	}
	if got := sh(t, m, "cat "+marker); got != "hi\n" {
		t.Errorf("guest reads back %q", got)
	}
	if got := sh(t, m, "echo $$"); got == "1\n" {
		t.Errorf("commands must not run as PID 1")
	}
}

func TestFilesBothWays(t *testing.T) {
	m := boot(t, "files", nil)
	ctx := context.Background()
	data := bytes.Repeat([]byte("vmtest\x00\xff"), 100000)
	if err := m.WriteFile(ctx, "/root/data.bin", 0o640, bytes.NewReader(data)); err != nil {
		t.Fatalf("write: %v", err)
	}
	if got := sh(t, m, "stat -c '%a %s' /root/data.bin"); got != fmt.Sprintf("640 %d\n", len(data)) {
		t.Errorf("stat in the guest: %q", got)
	}
	var out bytes.Buffer
	mode, err := m.ReadFile(ctx, "/root/data.bin", &out)
	if err != nil || mode != 0o640 || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("read back %d bytes (want %d), mode %v: %v", out.Len(), len(data), mode, err)
	}
}

func TestDiskSurvivesRebootShutdownAndCrash(t *testing.T) {
	m := boot(t, "disk", nil)
	ctx := context.Background()
	sh(t, m, "echo rebooted > /root/a")
	if err := m.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sh(t, m, "cat /root/a"); got != "rebooted\n" {
		t.Fatalf("after reboot: %q", got)
	}
	sh(t, m, "echo shut > /root/b")
	if err := m.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if m.Running() {
		t.Fatal("machine still running after shutdown")
	}
	if err := m.Boot(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sh(t, m, "cat /root/b"); got != "shut\n" {
		t.Fatalf("after shutdown and start: %q", got)
	}
	// A power cut keeps what was synced and loses what was only cached.
	// After the sync, the next write opens a new ext4 transaction that is
	// committed 5 s later at the earliest; the crash comes well before.
	sh(t, m, "echo synced > /root/c && sync && echo cached > /root/d")
	m.Crash()
	if err := m.Boot(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sh(t, m, "cat /root/c"); got != "synced\n" {
		t.Fatalf("synced file after a crash: %q", got)
	}
	if got := sh(t, m, "cat /root/d 2>/dev/null || echo lost"); got != "lost\n" && got != "\n" {
		t.Fatalf("unsynced file after a crash: %q, want it lost (or empty)", got)
	}
}

func TestGuestPanicIsReported(t *testing.T) {
	m := boot(t, "panic", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := m.Exec(ctx, guest.Command{Shell: "echo c > /proc/sysrq-trigger"})
	if !errors.Is(err, guest.ErrNotRunning) {
		t.Errorf("got %v, want guest.ErrNotRunning", err)
	}
	var be *vm.BootError
	if !errors.As(err, &be) {
		t.Fatalf("got %v, want a BootError", err)
	}
	if !strings.Contains(be.Error(), "machine panic: the guest kernel panicked (Kernel panic - not syncing: sysrq triggered crash) during exec") {
		t.Fatalf("error does not say what happened:\n%v", err)
	}
	if m.Running() {
		t.Fatal("machine still running after a panic")
	}
}

func TestBootFailureShowsConsole(t *testing.T) {
	dir, img := scratch(t)
	// An init that does not exist: the kernel panics during boot.
	_, err := vm.Start(context.Background(), art, vm.Config{Name: "broken", Disk: img, Dir: dir, KernelParams: []string{"rdinit=/no-such-init"}})
	var be *vm.BootError
	if !errors.As(err, &be) {
		t.Fatalf("got %v, want a BootError", err)
	}
	if !strings.Contains(be.Reason, "the guest kernel panicked (Kernel panic - not syncing:") || !strings.HasSuffix(be.Reason, "during boot") {
		t.Fatalf("boot failure not explained:\n%v", err)
	}
}

func TestBootTimeoutIsBounded(t *testing.T) {
	dir, img := scratch(t)
	// A guest that never answers: the CPU is stopped from the start.
	start := time.Now()
	_, err := vm.Start(context.Background(), art, vm.Config{Name: "silent", Disk: img, Dir: dir, QEMUOpts: []string{"-S"}, BootTimeout: 3 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "did not say hello within 3s") {
		t.Fatalf("got %v, want a hello timeout", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("the bounded boot took %s", d)
	}
}

func TestQMPReachesTheMachine(t *testing.T) {
	m := boot(t, "monitor", nil)
	q, err := m.QMP()
	if err != nil {
		t.Fatal(err)
	}
	status, err := q.Status(context.Background())
	if err != nil || status != "running" {
		t.Fatalf("query-status = %q, %v; want running", status, err)
	}
	// Without a display: no screen to dump, no VNC socket.
	err = m.Screendump(context.Background(), filepath.Join(t.TempDir(), "x.png"))
	if !errors.Is(err, vm.ErrNoDisplay) || !strings.Contains(err.Error(), "monitor") {
		t.Errorf("screen dump without a display: got %v, want ErrNoDisplay naming the machine", err)
	}
	if m.VNCSocket() != "" {
		t.Errorf("a machine without a display has a VNC socket %q", m.VNCSocket())
	}
}
