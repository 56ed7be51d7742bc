package vm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/vmtest/vmtest/vm/accel"
	"github.com/vmtest/vmtest/vm/cache"
	"github.com/vmtest/vmtest/vm/hide"
	"github.com/vmtest/vmtest/vm/initramfs"
	"github.com/vmtest/vmtest/vm/kernel"
	"github.com/vmtest/vmtest/vm/tsc"
)

// Artifacts are what every machine of a run boots from: prepared once,
// shared read-only.
type Artifacts struct {
	QEMU      string // qemu-system-x86_64
	Kernel    string // the ELF vmlinux, booted through PVH
	Initramfs string // the agent as /init plus the modules it loads
	// DisplayInitramfs is Initramfs with the display group too (see
	// initramfs.DisplayModules), for machines with Config.Display; ""
	// if it could not be built (a kernel without those modules), and
	// DisplayErr says why: machines without a display boot all the same.
	DisplayInitramfs string
	DisplayErr       error
	Firmware         string // qboot, or "" for QEMU's default BIOS
	AccelArgs        []string
	Accel            accel.Verdict
	Release          string // the kernel release
	// Agent is the vmtest binary, the guests' /init, and the wrapper that
	// starts QEMU in a view of the host root (see package hide).
	Agent string
	// ViewErr says why QEMU exports the host root as it is, and hidden
	// paths are hidden in the guests only; nil when each machine's QEMU
	// exports a hide.View (vmtest runs as root).
	ViewErr error
	// TSCKHz is the host's time stamp counter frequency, given to TCG
	// guests so that they need not calibrate it (see package tsc); 0
	// leaves them to it.
	TSCKHz int

	// snapshots holds the boot snapshots of this process's machines; nil
	// boots every machine cold (Options.NoSnapshot).
	snapshots *snapshotStore
}

// Snapshots reports whether machines booted from these artifacts use boot
// snapshots, and the directory that holds them.
func (a *Artifacts) Snapshots() (dir string, ok bool) {
	if a.snapshots == nil {
		return "", false
	}
	return a.snapshots.dir, true
}

// Options say where Prepare finds things; zero values pick the defaults.
type Options struct {
	Kernel string // a bzImage path (--kernel); else $VMTEST_KERNEL, else the newest in /boot
	Accel  string // "kvm", "tcg" or "" / "auto"
	Agent  string // the static vmtest binary to run as /init; default this executable
	QEMU   string // default qemu-system-x86_64 from PATH
	// NoSnapshot boots every machine cold (--no-snapshot); by default the
	// first machine of each shape saves a boot snapshot at its hello and
	// the others are revived from it.
	NoSnapshot bool
	// SnapshotDir holds the boot snapshots; default SnapshotDir(cache).
	SnapshotDir string
}

// DefaultFirmware is qboot, the minimal firmware that starts a PVH kernel
// faster than SeaBIOS. Debian ships it in qemu-system-data.
const DefaultFirmware = "/usr/share/qemu/qboot.rom"

// ProbeTimeout bounds the KVM probe.
const ProbeTimeout = 8 * time.Second

// Prepare finds QEMU and the kernel, unpacks the kernel, builds the
// initramfs and chooses the accelerator; all cached in the user's cache
// directory. Errors say what is missing and how to install it.
func Prepare(ctx context.Context, o Options) (*Artifacts, error) {
	qemu, err := FindQEMU(o.QEMU)
	if err != nil {
		return nil, err
	}
	dir, err := cache.Dir()
	if err != nil {
		return nil, err
	}
	k, err := kernel.Find(o.Kernel)
	if err != nil {
		return nil, err
	}
	vmlinux, err := kernel.VMLinux(k, dir)
	if err != nil {
		return nil, err
	}
	agent := o.Agent
	if agent == "" {
		if agent, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("locating the vmtest binary for the guest agent: %w", err)
		}
	}
	spec := initramfs.Spec{
		Agent:      agent,
		Release:    k.Release,
		ModulesDir: k.ModulesDir,
		Modules:    initramfs.DefaultModules(),
		OnDemand:   initramfs.OnDemandModules(),
		CacheDir:   dir,
	}
	initrd, err := initramfs.Build(spec)
	if err != nil {
		return nil, err
	}
	spec.OnDemand["display"] = initramfs.DisplayModules()
	displayInitrd, displayErr := initramfs.Build(spec)
	v, err := accel.Prober{QEMU: qemu, CacheDir: dir, Timeout: ProbeTimeout}.Choose(ctx, o.Accel)
	if err != nil {
		return nil, err
	}
	a := &Artifacts{QEMU: qemu, Kernel: vmlinux, Initramfs: initrd, DisplayInitramfs: displayInitrd, DisplayErr: displayErr, AccelArgs: accel.QEMUArgs(v), Accel: v, Release: k.Release,
		Agent: agent, ViewErr: hide.Probe(agent)}
	if _, err := os.Stat(DefaultFirmware); err == nil {
		a.Firmware = DefaultFirmware
	}
	if v.Accel != accel.KVM {
		a.TSCKHz, _ = tsc.KHz(dir) // without it, guests calibrate as they can
	}
	if !o.NoSnapshot {
		sd := o.SnapshotDir
		if sd == "" {
			sd = SnapshotDir(dir)
		}
		if a.snapshots, err = newSnapshotStore(sd); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// FindQEMU returns the QEMU binary: explicit if set, else
// qemu-system-x86_64 from PATH, or an error with the install command.
func FindQEMU(explicit string) (string, error) {
	name := explicit
	if name == "" {
		name = "qemu-system-x86_64"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found: install it with: apt-get install qemu-system-x86", name)
	}
	return p, nil
}
