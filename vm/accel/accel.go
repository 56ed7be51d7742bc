// Package accel chooses how QEMU runs guest code: KVM where it works,
// otherwise TCG (software emulation).
//
// A /dev/kvm that exists and opens may still not run guests: under nested
// virtualisation without hardware support a vCPU can hang for ever. So the
// verdict for "auto" comes from a bounded probe that boots a tiny firmware
// image under KVM through real mode, protected mode and long mode (see
// firmware.go), killed if it has not finished within Prober.Timeout. The
// verdict is cached, keyed by everything that can change it.
package accel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/internal/hostcmd"
	"github.com/vmtest/vmtest/vm/lines"
)

// Accelerator names, as in Verdict.Accel and the override of Choose.
const (
	KVM = "kvm"
	TCG = "tcg"
)

// DefaultTimeout bounds a probe when Prober.Timeout is zero. A working KVM
// finishes the probe in well under a second, TCG in about 50 ms.
const DefaultTimeout = 8 * time.Second

// DefaultQEMU is the binary used when Prober.QEMU is empty.
const DefaultQEMU = "qemu-system-x86_64"

// KVMDevice is the device whose presence and permissions decide whether KVM
// is worth probing.
const KVMDevice = "/dev/kvm"

// probeVersion is part of the cache key: bump it when the probe changes so
// that verdicts of an older probe are not trusted.
const probeVersion = 2

var _ fmt.Stringer = Verdict{}

// Verdict is the accelerator chosen and why.
type Verdict struct {
	Accel  string `json:"accel"`  // KVM or TCG
	Reason string `json:"reason"` // for humans, e.g. "kvm probe hung for 8s (nested virtualisation?)"
	Cached bool   `json:"-"`      // the verdict came from the cache, not a probe made now
}

// String is the verdict as vmtest reports it: "tcg: /dev/kvm absent".
func (v Verdict) String() string {
	s := v.Accel + ": " + v.Reason
	if v.Cached {
		s += " (cached)"
	}
	return s
}

// QEMUArgs returns the accelerator and CPU model flags for v, to be added
// to a command line that selects the machine without accel= (-M q35).
//
//   - kvm: -accel kvm -cpu host. The guest sees the host CPU's features, so
//     binaries from the host's root filesystem (the guests' root) run
//     exactly as they do on the host, at native speed.
//   - tcg: -accel tcg,tb-size=256 -cpu max,la57=off. "max" emulates every
//     feature TCG implements, so host binaries built for a newer baseline
//     than qemu64 (SSE4, AVX2 ...) still run; la57 is turned off because
//     5-level paging only makes each emulated page walk longer. tb-size
//     caps the translated-code cache at 256 MiB (QEMU's default is an
//     eighth of host RAM, up to 1 GiB). Measured: the host kernel's boot
//     to its early console translated 9 MiB; the cap leaves ample room for
//     a full userland yet bounds what a long-running guest can add to the
//     QEMU process's memory.
//
// An Accel other than KVM is treated as TCG.
func QEMUArgs(v Verdict) []string {
	if v.Accel == KVM {
		return []string{"-accel", "kvm", "-cpu", "host"}
	}
	return []string{"-accel", "tcg,tb-size=256", "-cpu", "max,la57=off"}
}

// Prober decides between KVM and TCG. The zero value probes
// qemu-system-x86_64 from PATH with DefaultTimeout and caches nothing.
// A Prober holds no state: its methods may be called concurrently, also
// from several processes sharing a CacheDir.
type Prober struct {
	QEMU     string        // qemu-system-x86_64 binary; DefaultQEMU from PATH if empty
	CacheDir string        // where verdicts are cached; no caching if empty
	Timeout  time.Duration // how long a probe may run before it counts as hung; DefaultTimeout if zero
}

// Choose returns the accelerator to use. override is the user's choice:
//
//   - "kvm" or "tcg": that accelerator, without probing. A forced kvm is
//     returned even if /dev/kvm is unusable; Reason then says so.
//   - "" or "auto": TCG at once if /dev/kvm is absent or cannot be opened
//     read-write; otherwise the cached verdict for this QEMU binary, host
//     kernel and /dev/kvm if there is one, else the verdict of a probe,
//     which is then cached.
//
// Choose blocks for at most about Timeout plus QEMU's start-up (only when it
// probes). Cancelling ctx kills a running probe and makes Choose return
// ctx's error. Other errors mean the choice could not be made: an invalid
// override, or a QEMU binary that cannot be found or started. Failing to
// write the cache is not an error; Reason mentions it.
func (p Prober) Choose(ctx context.Context, override string) (Verdict, error) {
	return p.choose(ctx, override, KVMDevice)
}

func (p Prober) choose(ctx context.Context, override, kvmDev string) (Verdict, error) {
	switch override {
	case TCG:
		return Verdict{Accel: TCG, Reason: "tcg forced by override"}, nil
	case KVM:
		if err := openRW(kvmDev); err != nil {
			return Verdict{Accel: KVM, Reason: "kvm forced by override, although " + err.Error()}, nil
		}
		return Verdict{Accel: KVM, Reason: "kvm forced by override (not probed)"}, nil
	case "", "auto":
	default:
		return Verdict{}, fmt.Errorf("accel: unknown accelerator %q, want one of \"auto\" (or empty), \"kvm\", \"tcg\"", override)
	}

	if _, err := os.Stat(kvmDev); errors.Is(err, fs.ErrNotExist) {
		return Verdict{Accel: TCG, Reason: kvmDev + " absent"}, nil
	}
	if err := openRW(kvmDev); err != nil {
		return Verdict{Accel: TCG, Reason: err.Error()}, nil
	}

	qemu, err := p.qemuPath()
	if err != nil {
		return Verdict{}, err
	}
	var file string
	var key cacheKey
	if p.CacheDir != "" {
		key, err = newCacheKey(qemu, kvmDev)
		if err != nil {
			return Verdict{}, err
		}
		file = key.file(p.CacheDir)
		if v, ok := loadVerdict(file, key); ok {
			return v, nil
		}
	}

	res, err := p.Probe(ctx, KVM)
	if err != nil {
		return Verdict{}, err
	}
	v := res.verdict()
	if file != "" {
		if err := storeVerdict(file, key, v); err != nil {
			v.Reason += "; verdict not cached: " + err.Error()
		}
	}
	return v, nil
}

// openRW says why dev cannot be opened read-write, as QEMU must.
func openRW(dev string) error {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("%s not usable: cannot open it read-write: %w", dev, err)
	}
	f.Close()
	return nil
}

func (p Prober) qemuPath() (string, error) {
	q := p.QEMU
	if q == "" {
		q = DefaultQEMU
	}
	path, err := exec.LookPath(q)
	if err != nil {
		return "", fmt.Errorf("accel: want a qemu-system-x86_64 binary, got %q: %w", q, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("accel: qemu binary %q: %w", path, err)
	}
	return abs, nil
}

func (p Prober) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultTimeout
}

// ProbeResult is what one probe run showed.
type ProbeResult struct {
	Accel   string        // the accelerator probed
	Ran     bool          // the guest reached long mode and made QEMU exit with status 3
	Hung    bool          // QEMU was killed after Prober.Timeout
	Elapsed time.Duration // from starting QEMU until it exited or was killed
	Reached []string      // the guest stages seen: "real mode", "protected mode", "long mode"
	Detail  string        // if neither Ran nor Hung: how QEMU failed
}

func (r ProbeResult) verdict() Verdict {
	ms := r.Elapsed.Round(time.Millisecond)
	switch {
	case r.Ran:
		return Verdict{Accel: r.Accel, Reason: fmt.Sprintf("%s probe ran a guest to long mode in %v", r.Accel, ms)}
	case r.Hung:
		where := "before the guest reached real-mode code"
		if n := len(r.Reached); n > 0 {
			where = "after reaching " + r.Reached[n-1]
		}
		return Verdict{Accel: TCG, Reason: fmt.Sprintf("%s probe hung for %v %s (nested virtualisation?)", r.Accel, r.Elapsed.Round(time.Second/10), where)}
	default:
		return Verdict{Accel: TCG, Reason: fmt.Sprintf("%s probe failed after %v: %s", r.Accel, ms, r.Detail)}
	}
}

// Probe boots the probe firmware under accel (KVM or TCG) with the flags of
// QEMUArgs, so it tests what guests will run, and reports what happened.
// (Where -cpu host is broken, as on a host where QEMU 7.2 aborts in
// kvm_buf_set_msrs, the probe fails fast instead of hanging.) It blocks until QEMU exits or
// Timeout passes; then QEMU is killed and waited for, so no process is left
// behind, also when ctx is cancelled. An error means the probe could not be
// made (QEMU missing, no temporary directory) or ctx ended; a guest that
// hangs or a QEMU that fails is a result, not an error.
func (p Prober) Probe(ctx context.Context, accel string) (ProbeResult, error) {
	res, _, err := p.probe(ctx, accel, probeFirmware())
	return res, err
}

// probe runs firmware and also returns QEMU's pid, for tests.
func (p Prober) probe(ctx context.Context, accel string, firmware []byte) (ProbeResult, int, error) {
	res := ProbeResult{Accel: accel}
	if accel != KVM && accel != TCG {
		return res, 0, fmt.Errorf("accel probe: want %q or %q, got %q", KVM, TCG, accel)
	}
	qemu, err := p.qemuPath()
	if err != nil {
		return res, 0, err
	}
	dir, err := os.MkdirTemp("", "vmtest-accel-")
	if err != nil {
		return res, 0, fmt.Errorf("accel probe: %w", err)
	}
	defer os.RemoveAll(dir)
	bios := filepath.Join(dir, "probe.bin")
	debugcon := filepath.Join(dir, "debugcon")
	if err := os.WriteFile(bios, firmware, 0o600); err != nil {
		return res, 0, fmt.Errorf("accel probe: %w", err)
	}

	args := []string{"-M", "q35", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-m", "16",
		"-bios", bios,
		"-device", fmt.Sprintf("isa-debug-exit,iobase=%#x,iosize=0x04", debugExitPort),
		"-debugcon", "file:" + debugcon,
	}
	args = append(args, QEMUArgs(Verdict{Accel: accel})...)

	tctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	cmd := hostcmd.Command(tctx, qemu, args...)
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL // killed if we die first
	stderr := lines.NewTail(4 << 10)
	cmd.Stderr = stderr

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, 0, fmt.Errorf("accel probe: start %s: %w", qemu, err)
	}
	waitErr := cmd.Wait()
	res.Elapsed = time.Since(start)
	pid := cmd.Process.Pid
	res.Reached = stages(debugcon)

	if ctx.Err() != nil {
		return res, pid, fmt.Errorf("accel probe: %w", ctx.Err())
	}
	code := cmd.ProcessState.ExitCode()
	switch {
	case tctx.Err() != nil && code == -1:
		res.Hung = true
	case code == ranStatus:
		res.Ran = true
	default:
		res.Detail = fmt.Sprintf("qemu exited with %v, want exit status %d", waitErr, ranStatus)
		if code == 0 {
			res.Detail = fmt.Sprintf("qemu exited with status 0 (guest reset?), want exit status %d", ranStatus)
		}
		if line := lastLine(stderr.String()); line != "" {
			res.Detail += ": " + line
		}
	}
	return res, pid, nil
}

// stages reads the debug console letters the firmware wrote.
func stages(file string) []string {
	b, _ := os.ReadFile(file)
	names := map[byte]string{'R': "real mode", 'P': "protected mode", 'L': "long mode"}
	var out []string
	for _, c := range b {
		if n, ok := names[c]; ok {
			out = append(out, n)
		}
	}
	return out
}

// lastLine is the last line of out that is not a QEMU warning, or the
// last line.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if !strings.Contains(lines[i], "warning:") {
			return strings.TrimSpace(lines[i])
		}
	}
	return strings.TrimSpace(lines[len(lines)-1])
}

// cacheKey is everything a cached verdict depends on.
type cacheKey struct {
	Probe     int    `json:"probe"`      // probeVersion
	QEMU      string `json:"qemu"`       // absolute path of the binary
	QEMUSize  int64  `json:"qemu_size"`  //
	QEMUMtime int64  `json:"qemu_mtime"` // Unix nanoseconds
	Kernel    string `json:"kernel"`     // host kernel release (uname -r)
	KVMExists bool   `json:"kvm_exists"` //
}

func newCacheKey(qemu, kvmDev string) (cacheKey, error) {
	fi, err := os.Stat(qemu) // follows symlinks: the binary that runs
	if err != nil {
		return cacheKey{}, fmt.Errorf("accel: qemu binary: %w", err)
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return cacheKey{}, fmt.Errorf("accel: uname: %w", err)
	}
	_, kvmErr := os.Stat(kvmDev)
	return cacheKey{
		Probe:     probeVersion,
		QEMU:      qemu,
		QEMUSize:  fi.Size(),
		QEMUMtime: fi.ModTime().UnixNano(),
		Kernel:    unix.ByteSliceToString(uts.Release[:]),
		KVMExists: kvmErr == nil,
	}, nil
}

// file is the key's cache file: one per key, so that switching between two
// kernels or QEMUs does not make them evict each other.
func (k cacheKey) file(dir string) string {
	b, _ := json.Marshal(k)
	sum := sha256.Sum256(b)
	return filepath.Join(dir, "accel-"+hex.EncodeToString(sum[:8])+".json")
}

type cacheEntry struct {
	Key     cacheKey  `json:"key"`
	Verdict Verdict   `json:"verdict"`
	Probed  time.Time `json:"probed"`
}

// loadVerdict returns the cached verdict for key; a missing, unreadable or
// foreign file is a cache miss.
func loadVerdict(file string, key cacheKey) (Verdict, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return Verdict{}, false
	}
	var e cacheEntry
	if json.Unmarshal(b, &e) != nil || e.Key != key || (e.Verdict.Accel != KVM && e.Verdict.Accel != TCG) {
		return Verdict{}, false
	}
	e.Verdict.Cached = true
	return e.Verdict, true
}

// storeVerdict writes the entry atomically (temporary file and rename), so
// concurrent vmtest processes see either no entry or a whole one.
func storeVerdict(file string, key cacheKey, v Verdict) error {
	b, err := json.MarshalIndent(cacheEntry{Key: key, Verdict: v, Probed: time.Now().UTC()}, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".accel-*.tmp")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(append(b, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
