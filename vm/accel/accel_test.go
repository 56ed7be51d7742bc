package accel

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func needQEMU(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(DefaultQEMU); err != nil {
		t.Skipf("%s not installed: %v", DefaultQEMU, err)
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestFirmwareLayout(t *testing.T) {
	img := probeFirmware()
	if len(img)%(64<<10) != 0 {
		t.Fatalf("image is %d bytes, want a multiple of 64 KiB", len(img))
	}
	if img[resetOff] != 0xEA {
		t.Fatalf("reset vector starts %#x, want a far jmp (0xea)", img[resetOff])
	}
	if img[len(img)-1] != 0xF4 {
		t.Fatalf("last byte %#x, want hlt padding", img[len(img)-1])
	}
}

// The probe must work where it cannot be wrong: under TCG every stage runs.
func TestProbeTCG(t *testing.T) {
	needQEMU(t)
	res, err := Prober{}.Probe(testContext(t), TCG)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Ran || res.Hung {
		t.Fatalf("tcg probe: %+v; want Ran (qemu exit status %d)", res, ranStatus)
	}
	if want := []string{"real mode", "protected mode", "long mode"}; !slices.Equal(res.Reached, want) {
		t.Errorf("stages reached %q, want %q", res.Reached, want)
	}
	if v := res.verdict(); v.Accel != TCG || !strings.Contains(v.Reason, "ran a guest") {
		t.Errorf("verdict %v", v)
	}
	t.Logf("tcg probe: %v", res.verdict())
}

// A guest that never finishes is reported as hung after the timeout, and
// its QEMU is killed and reaped.
func TestProbeHung(t *testing.T) {
	needQEMU(t)
	p := Prober{Timeout: 300 * time.Millisecond}
	start := time.Now()
	res, pid, err := p.probe(testContext(t), TCG, haltFirmware())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Hung || res.Ran {
		t.Fatalf("halting firmware: %+v, want Hung", res)
	}
	if len(res.Reached) != 0 {
		t.Errorf("stages reached %q, want none", res.Reached)
	}
	v := res.verdict()
	if v.Accel != TCG || !strings.Contains(v.Reason, "hung for") {
		t.Errorf("verdict %v, want tcg because the probe hung", v)
	}
	t.Logf("after %v: %v", time.Since(start).Round(time.Millisecond), v)
	assertGone(t, pid)
}

// Cancelling the caller's context kills the probe too.
func TestProbeCancelled(t *testing.T) {
	needQEMU(t)
	ctx, cancel := context.WithCancel(testContext(t))
	time.AfterFunc(200*time.Millisecond, cancel)
	_, pid, err := Prober{Timeout: time.Minute}.probe(ctx, TCG, haltFirmware())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled probe: got %v, want context.Canceled", err)
	}
	assertGone(t, pid)
}

// assertGone checks that pid was reaped: no process, not even a zombie.
func assertGone(t *testing.T, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("no pid")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("qemu pid %d still exists after the probe (kill 0: %v)", pid, err)
	}
}

func TestChooseOverride(t *testing.T) {
	ctx := testContext(t)
	missing := filepath.Join(t.TempDir(), "kvm")
	p := Prober{QEMU: "/nonexistent/qemu"} // an override never runs QEMU

	v, err := p.choose(ctx, "tcg", KVMDevice)
	if err != nil || v.Accel != TCG || !strings.Contains(v.Reason, "forced") {
		t.Errorf("override tcg: %v, %v", v, err)
	}
	v, err = p.choose(ctx, "kvm", missing)
	if err != nil || v.Accel != KVM || !strings.Contains(v.Reason, "forced") || !strings.Contains(v.Reason, "not usable") {
		t.Errorf("override kvm without a device: %v, %v; want kvm, forced, not usable", v, err)
	}
	t.Logf("%v", v)

	_, err = p.choose(ctx, "xen", KVMDevice)
	if err == nil || !strings.Contains(err.Error(), `"xen"`) || !strings.Contains(err.Error(), `"kvm"`) || !strings.Contains(err.Error(), `"tcg"`) || !strings.Contains(err.Error(), `"auto"`) {
		t.Errorf("override xen: got %v, want an error naming it and listing the valid values", err)
	}
}

// Without a usable /dev/kvm, auto is tcg at once: no probe, no QEMU.
func TestChooseNoKVM(t *testing.T) {
	ctx := testContext(t)
	p := Prober{QEMU: "/nonexistent/qemu", CacheDir: t.TempDir()}

	v, err := p.choose(ctx, "auto", filepath.Join(t.TempDir(), "kvm"))
	if err != nil || v.Accel != TCG || !strings.Contains(v.Reason, "absent") {
		t.Errorf("absent device: %v, %v", v, err)
	}
	// A directory exists but cannot be opened read-write (even by root).
	v, err = p.choose(ctx, "", t.TempDir())
	if err != nil || v.Accel != TCG || !strings.Contains(v.Reason, "not usable") {
		t.Errorf("unopenable device: %v, %v", v, err)
	}
	t.Logf("%v", v)
}

// On the machine at hand, whatever the verdict: it comes within the
// timeout, says why, and the second time comes from the cache.
func TestChooseAutoAndCache(t *testing.T) {
	needQEMU(t)
	if err := openRW(KVMDevice); err != nil {
		t.Skipf("no probe happens here: %v", err)
	}
	ctx := testContext(t)
	p := Prober{CacheDir: t.TempDir()}

	start := time.Now()
	v, err := p.Choose(ctx, "auto")
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("verdict after %v: %v", elapsed.Round(time.Millisecond), v)
	if v.Cached || v.Reason == "" || (v.Accel != KVM && v.Accel != TCG) {
		t.Fatalf("first Choose: %+v, want a fresh verdict with a reason", v)
	}
	if slack := 10 * time.Second; elapsed > DefaultTimeout+slack {
		t.Errorf("Choose took %v, want at most the timeout %v plus %v", elapsed, DefaultTimeout, slack)
	}

	v2, err := p.Choose(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !v2.Cached || v2.Accel != v.Accel || v2.Reason != v.Reason {
		t.Fatalf("second Choose: %+v, want the first verdict %+v from the cache", v2, v)
	}
	t.Logf("second: %v", v2)
	if v3, _ := (Prober{CacheDir: p.CacheDir}).Choose(ctx, "tcg"); v3.Cached {
		t.Errorf("an override must not come from the cache: %v", v3)
	}
}

// A new QEMU binary (size or mtime) or kernel must not reuse a verdict.
func TestCacheKey(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "qemu")
	if err := os.WriteFile(bin, []byte("v1"), 0o755); err != nil {
		t.Fatal(err)
	}
	k1, err := newCacheKey(bin, KVMDevice)
	if err != nil {
		t.Fatal(err)
	}
	if k1.Kernel == "" {
		t.Error("no kernel release in the key")
	}
	v := Verdict{Accel: KVM, Reason: "test"}
	if err := storeVerdict(k1.file(dir), k1, v); err != nil {
		t.Fatal(err)
	}
	if got, ok := loadVerdict(k1.file(dir), k1); !ok || got.Accel != KVM || !got.Cached {
		t.Fatalf("load after store: %+v, %v", got, ok)
	}

	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(bin, later, later); err != nil {
		t.Fatal(err)
	}
	k2, err := newCacheKey(bin, KVMDevice)
	if err != nil {
		t.Fatal(err)
	}
	k3 := k1
	k3.Kernel += "-other"
	k4 := k1
	k4.KVMExists = !k4.KVMExists
	for name, k := range map[string]cacheKey{"new mtime": k2, "other kernel": k3, "kvm device appeared": k4} {
		if k.file(dir) == k1.file(dir) {
			t.Errorf("%s: same cache file", name)
		}
		if _, ok := loadVerdict(k1.file(dir), k); ok {
			t.Errorf("%s: cached verdict accepted", name)
		}
	}

	// A corrupt file is a miss, not an error.
	if err := os.WriteFile(k1.file(dir), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := loadVerdict(k1.file(dir), k1); ok {
		t.Error("corrupt cache file accepted")
	}
}

func TestQEMUArgs(t *testing.T) {
	if got := QEMUArgs(Verdict{Accel: KVM}); !slices.Equal(got, []string{"-accel", "kvm", "-cpu", "host"}) {
		t.Errorf("kvm: %q", got)
	}
	got := QEMUArgs(Verdict{Accel: TCG})
	if len(got) != 4 || got[0] != "-accel" || !strings.HasPrefix(got[1], "tcg") || got[2] != "-cpu" || !strings.HasPrefix(got[3], "max") {
		t.Errorf("tcg: %q, want -accel tcg... -cpu max...", got)
	}
}
