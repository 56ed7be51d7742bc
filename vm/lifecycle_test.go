package vm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmtest/vmtest/vm"
	"github.com/vmtest/vmtest/vm/disk"
	"github.com/vmtest/vmtest/vm/guest"
)

// noHang bounds what must end at once: far below any boot timeout here,
// far above what a loaded host needs.
const noHang = 60 * time.Second

// qemuOf returns the pids of the QEMU processes started for the machine
// whose directory is dir (its sockets are there).
func qemuOf(t *testing.T, dir string) []int {
	t.Helper()
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), dir+"/agent.sock") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// A Crash during a boot cuts the power at once: the boot fails with
// ErrPowerCut naming its phase, QEMU is gone, and the state never waited
// for the boot's I/O.
func TestCrashDuringBoot(t *testing.T) {
	dir, img := scratch(t)
	// A guest whose CPU never starts (-S) holds the boot in its hello
	// phase until the (long) boot timeout.
	m, err := vm.New(art, vm.Config{Name: "cut", Disk: img, Dir: dir, QEMUOpts: []string{"-S"}, BootTimeout: 10 * time.Minute, Console: testWriter{t, "cut"}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	booted := make(chan error, 1)
	go func() { booted <- m.Boot(context.Background()) }()
	for len(qemuOf(t, dir)) == 0 {
		select {
		case err := <-booted:
			t.Fatalf("the boot ended before the crash: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if p := m.Phase(); p != vm.Booting {
		t.Fatalf("phase during the boot = %s, want booting", p)
	}
	if m.Running() {
		t.Fatal("Running during the boot")
	}
	if _, err := m.Exec(context.Background(), guest.Command{Shell: "true"}); !errors.Is(err, guest.ErrNotRunning) {
		t.Errorf("a call during the boot: got %v, want guest.ErrNotRunning", err)
	}
	crashed := make(chan struct{})
	go func() { m.Crash(); close(crashed) }()
	select {
	case <-crashed:
	case <-time.After(noHang):
		t.Fatal("Crash waited behind the boot")
	}
	select {
	case err = <-booted:
	case <-time.After(noHang):
		t.Fatal("the boot went on after the crash")
	}
	if !errors.Is(err, vm.ErrPowerCut) || !strings.Contains(err.Error(), "the boot failed while ") {
		t.Errorf("the boot's error: got %v, want ErrPowerCut naming its phase", err)
	}
	if pids := qemuOf(t, dir); len(pids) > 0 {
		t.Errorf("QEMU still runs after the crash: pids %v", pids)
	}
	if p := m.Phase(); p != vm.Stopped {
		t.Errorf("phase after the crash = %s, want stopped", p)
	}
}

// A boot cancelled while it makes its disk kills the program making it
// and leaves no disk behind.
func TestCancelWhileMakingTheDisk(t *testing.T) {
	dir, _ := scratch(t)
	// An mke2fs that takes forever, found first in PATH (see disk.Tool).
	bin := t.TempDir()
	mark := filepath.Join(bin, "pid")
	script := fmt.Sprintf("#!/bin/sh\necho $$ > %s.tmp && mv %s.tmp %s\nexec sleep 600\n", mark, mark, mark)
	if err := os.WriteFile(filepath.Join(bin, "mke2fs"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	path := filepath.Join(dir, "new.img")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	booted := make(chan error, 1)
	go func() {
		m, err := vm.Start(ctx, art, vm.Config{Name: "nodisk", Disk: disk.Image{Path: path, Format: "raw"}, Dir: dir})
		if err == nil {
			m.Close()
		}
		booted <- err
	}()
	var pid int
	for pid == 0 {
		select {
		case err := <-booted:
			t.Fatalf("the boot ended before it was cancelled: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if b, err := os.ReadFile(mark); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
	}
	cancel()
	var err error
	select {
	case err = <-booted:
	case <-time.After(noHang):
		t.Fatal("the cancelled boot went on making its disk")
	}
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "mke2fs") {
		t.Errorf("got %v, want context.Canceled from mke2fs", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the program making the disk (pid %d) is still there: %v", pid, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the cancelled disk was left behind: %v", err)
	}
	if pids := qemuOf(t, dir); len(pids) > 0 {
		t.Errorf("QEMU was started: pids %v", pids)
	}
}

// The guest calls fail with the errors of package guest, for errors.Is.
func TestGuestCallErrors(t *testing.T) {
	m := boot(t, "errs", nil)
	ctx := context.Background()

	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var out bytes.Buffer
	_, err := m.Exec(short, guest.Command{Shell: "echo started; sleep 600", Stdout: &out})
	if !errors.Is(err, guest.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a command past its deadline: got %v, want guest.ErrTimeout", err)
	}
	if out.String() != "started\n" {
		t.Errorf("output before the deadline: %q", out.String())
	}
	// The host's deadline ended it in the guest too.
	if got := sh(t, m, "pgrep -x sleep || echo none"); got != "none\n" {
		t.Errorf("the timed-out command still runs: %q", got)
	}

	gone, cancelGone := context.WithCancel(ctx)
	time.AfterFunc(500*time.Millisecond, cancelGone)
	if err := m.WaitFile(gone, "/never"); !errors.Is(err, context.Canceled) || errors.Is(err, guest.ErrTimeout) {
		t.Errorf("a cancelled wait: got %v, want context.Canceled", err)
	}

	_, err = m.Exec(ctx, guest.Command{Argv: []string{"no-such-program"}})
	var ge *guest.Error
	if !errors.Is(err, guest.ErrFailed) || !errors.As(err, &ge) || ge.Op != "exec" || !strings.Contains(ge.Guest, "no-such-program") {
		t.Errorf("a program that does not exist: got %#v, want guest.ErrFailed naming it", err)
	}
	if _, err := m.ReadFile(ctx, "/etc", &out); !errors.Is(err, guest.ErrFailed) {
		t.Errorf("reading a directory: got %v, want guest.ErrFailed", err)
	}
	if st, err := m.Exec(ctx, guest.Command{Shell: "exit 3"}); err != nil || st.Exit != 3 {
		t.Errorf("a command that exits 3: got %+v, %v; want its status and no error", st, err)
	}

	m.Crash()
	if _, err := m.Exec(ctx, guest.Command{Shell: "true"}); !errors.Is(err, guest.ErrNotRunning) {
		t.Errorf("a call after a crash: got %v, want guest.ErrNotRunning", err)
	}
	if err := m.Shutdown(ctx); !errors.Is(err, guest.ErrNotRunning) {
		t.Errorf("shutdown after a crash: got %v, want guest.ErrNotRunning", err)
	}
}
