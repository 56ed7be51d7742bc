// Package vm runs one QEMU guest from the host side: its command line, its
// sockets, its boot, and the agent connection that drives it. Subpackages
// hold the pieces: kernel (discovery and vmlinux), initramfs, disk, accel,
// qmp, wire (the host–guest protocol), agent (the guest side) and guest
// (the calls every kind of machine answers).
//
// # Lifecycle
//
// A Machine is Stopped, Booting or Running (Phase). A boot runs a short
// list of named phases, each its own function (boot.go):
//
//	making its disk               the disk's empty ext4, if there is none yet
//	opening its sockets           console, QMP and agent sockets QEMU connects to
//	starting qemu                 QEMU, with the memory of the boot snapshot if revived
//	connecting to qemu            accept the sockets, QMP handshake, console copier
//	loading the boot snapshot     (revived) or
//	waiting for the agent's hello (cold), then
//	saving the boot snapshot      (the first cold boot of its shape)
//	configuring                   identity, root, files, network, clock, jobs
//
// and the machine is Running. The state (machineState) is a small struct
// whose mutex is never held across I/O: Running, Phase, QMP, the guest
// calls and Crash read it at once, whatever a boot is waiting for. Crash
// during a boot cancels the boot's context and kills its QEMU at once; the
// boot then fails with ErrPowerCut, naming the phase it was in.
//
// # Kinds of machine
//
// The phases are the kind's (the kind interface): today there is one,
// hostRoot, the host's root over 9p with the vmtest agent as init. The
// kinds to come plug in there, each with its own list, inside the same
// lifecycle: an image machine makes a qcow2 overlay of its image in
// "making its disk" and boots its own kernel; a foreign machine (an
// installer or a disk, no agent) replaces the hello and configure phases
// by waiting for SSH or a serial-console login; a remote host has no QEMU
// phases at all, only connecting. Whatever drives the guest then
// implements guest.Guest (calls.go is the agent's), so that runtime and
// builtins see one interface whatever the kind.
package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/vmtest/vmtest/vm/disk"
	"github.com/vmtest/vmtest/vm/guest"
	"github.com/vmtest/vmtest/vm/qmp"
	"github.com/vmtest/vmtest/vm/wire"
)

// Config describes one machine.
type Config struct {
	Name   string // the guest's host name
	Memory int    // MiB; 0 means 512
	CPUs   int    // 0 means 1
	// Disk holds the guest's writable upper layer and survives reboots and
	// power cuts. Without one (Path ""), writes live in the guest's memory
	// and vanish when QEMU stops.
	Disk disk.Image
	// Dir is the machine's private directory (mode 0700, see RunDir) for
	// its sockets.
	Dir string
	// Console receives everything the guest prints on its serial console.
	Console io.Writer
	// Hide are paths of the host root the guest must not see (see package
	// hide): hidden in the guest before Files are written, and in QEMU's
	// view of the host root when it has one.
	Hide []wire.Hidden
	// Files are written into the guest's root before anything runs.
	Files []wire.File
	// User is the machine's QEMU user network, eth0 (nil: none).
	User *UserNet
	// NICs are the machine's network interfaces on the virtual switch, in
	// order (after eth0 if User is set: eth1, eth2, ...).
	NICs         []NIC
	KernelParams []string
	QEMUOpts     []string
	// BootTimeout bounds the boot up to a configured agent; 0 means
	// DefaultBootTimeout.
	BootTimeout time.Duration
	// Jobs are declared to the agent at every boot, once the root is
	// set up; it starts them (wire.OpJobs).
	Jobs []wire.Job
	// Display gives the machine a screen: a VGA adapter whose frame
	// buffer shows the guest's text console tty1 (and an X server, if one
	// runs), a VNC server on the unix socket VNCSocket() to watch it, and
	// Screendump and SendKeys. The keyboard (PS/2) is there in every
	// machine.
	Display bool
	// OnEvent, if not nil, receives the agent's events other than hello
	// (job state changes), from the connection's reader goroutine: it must
	// not block.
	OnEvent func(wire.Event)
}

// NIC is one network interface of a machine, plugged into a switch port.
type NIC struct {
	MAC string // "52:54:00:xx:xx:xx"
	// Socket is the unix socket of the switch port; the switch listens and
	// QEMU connects (-netdev stream), again after every reboot.
	Socket string
	Addrs  []string // CIDR addresses the agent assigns, e.g. "192.168.1.2/24"
}

// DefaultBootTimeout is generous because a loaded machine under software
// emulation boots many times slower than an idle one with KVM.
const DefaultBootTimeout = 120 * time.Second

// shutdownTimeout bounds a clean power off before QEMU is killed.
const shutdownTimeout = 30 * time.Second

// Machine is one running (or stopped) guest. Its methods are safe for
// concurrent use, and none waits behind another's I/O: Running, Phase,
// Crash, QMP and the guest calls read the machine's state at once, even
// while it boots. Close must be called to release it; it kills QEMU if it
// still runs.
type Machine struct {
	art   *Artifacts
	cfg   Config
	con   *console
	kind  kind
	state machineState
}

// New returns a stopped machine; Boot starts it. It checks cfg and fills
// in its defaults.
func New(art *Artifacts, cfg Config) (*Machine, error) {
	if cfg.Memory == 0 {
		cfg.Memory = 512
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = 1
	}
	if cfg.BootTimeout == 0 {
		cfg.BootTimeout = DefaultBootTimeout
	}
	if len(cfg.NICs) > MaxNICs {
		return nil, fmt.Errorf("machine %s: want at most %d network interfaces, got %d", cfg.Name, MaxNICs, len(cfg.NICs))
	}
	if cfg.Display && art.DisplayInitramfs == "" {
		return nil, fmt.Errorf("machine %s: a display needs the kernel's bochs DRM driver and evdev: %w", cfg.Name, art.DisplayErr)
	}
	m := &Machine{art: art, cfg: cfg, con: newConsole(cfg.Console), kind: hostRoot{}}
	if cfg.User != nil {
		m.state.forwards = slices.Clone(cfg.User.Forwards)
	}
	return m, nil
}

// Start is New, then Boot: it returns the machine once its agent has
// switched into the machine's root and is ready for requests (see Boot).
// Nothing is left running when it fails.
func Start(ctx context.Context, art *Artifacts, cfg Config) (*Machine, error) {
	m, err := New(art, cfg)
	if err != nil {
		return nil, err
	}
	if err := m.Boot(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Name returns the machine's name.
func (m *Machine) Name() string { return m.cfg.Name }

// ConsoleTail returns up to n of the last lines of the serial console.
func (m *Machine) ConsoleTail(n int) []string { return m.con.Tail(n) }

// Phase returns where the machine is in its lifecycle, without waiting.
func (m *Machine) Phase() Phase { return m.state.phase() }

// LastBoot says how the machine's last successful boot went.
func (m *Machine) LastBoot() BootInfo {
	m.state.mu.Lock()
	defer m.state.mu.Unlock()
	return m.state.last
}

// QMP returns the QEMU monitor of the running machine, for what the agent
// cannot do from inside (screen dumps, device changes). Calls on it fail
// once the machine stops.
func (m *Machine) QMP() (*qmp.Client, error) {
	inst := m.state.running()
	if inst == nil {
		return nil, m.notRunning()
	}
	return inst.qmp, nil
}

// notRunning is the error of an action that needs the machine running.
func (m *Machine) notRunning() error {
	return fmt.Errorf("machine %s: %w", m.cfg.Name, guest.ErrNotRunning)
}

// Running reports whether the machine is up: booted, and its QEMU runs.
func (m *Machine) Running() bool { return m.state.running() != nil }

// Boot starts a stopped machine: it runs the phases of its kind (see
// package doc), and returns when its agent has switched into the machine's
// root and is ready for requests. Unless the artifacts were prepared with
// Options.NoSnapshot, the machine is revived from the boot snapshot of its
// shape, or boots cold and saves that snapshot (see snapshot.go); Boot may
// then wait while another machine of the shape saves it. It fails, with
// the console tail in the error, when QEMU exits, the guest does not
// answer within the boot timeout, ctx is done, or Crash cuts the power
// (ErrPowerCut); nothing is left running then.
func (m *Machine) Boot(ctx context.Context) error { return m.boot(ctx) }

// Shutdown powers the machine off cleanly: the agent stops all processes
// and syncs the disk. If the guest does not power off within 30 s, or ctx
// ends first, QEMU is killed and the error says so: the disk then holds
// only what had been synced.
func (m *Machine) Shutdown(ctx context.Context) error {
	return m.powerCycle(ctx, false)
}

// Reboot restarts the machine: a clean power off, then a new boot with the
// same disk.
func (m *Machine) Reboot(ctx context.Context) error {
	if err := m.powerCycle(ctx, true); err != nil {
		return err
	}
	return m.boot(ctx)
}

func (m *Machine) powerCycle(ctx context.Context, reboot bool) error {
	inst := m.state.running()
	if inst == nil {
		return m.notRunning()
	}
	op := map[bool]string{false: wire.OpPoweroff, true: wire.OpReboot}[reboot]
	callErr := m.PowerOff(ctx, reboot)
	t := time.NewTimer(shutdownTimeout)
	defer t.Stop()
	var stuck error // why QEMU had to be killed
	select {
	case <-inst.exited:
	case <-t.C:
		stuck = fmt.Errorf("the guest did not power off within %s; its power was cut", shutdownTimeout)
	case <-ctx.Done():
		stuck = fmt.Errorf("%w; its power was cut", context.Cause(ctx))
	}
	m.stop(inst)
	// The agent may power off before its answer is read.
	if callErr != nil && !errors.Is(callErr, guest.ErrNotRunning) && stuck == nil {
		return fmt.Errorf("machine %s: %w", m.cfg.Name, callErr)
	}
	if stuck != nil {
		return fmt.Errorf("machine %s: %s: %w", m.cfg.Name, op, stuck)
	}
	return nil
}

// Crash cuts the power: QEMU is killed at once, even in the middle of a
// boot (which then fails with ErrPowerCut). What the guest had synced to
// its disk survives; what was only in its page cache does not. It returns
// once QEMU has exited.
func (m *Machine) Crash() {
	if inst := m.state.cut(); inst != nil {
		m.stop(inst)
	}
}

// Wait blocks until the machine stops on its own (its QEMU exits) or ctx
// is done.
func (m *Machine) Wait(ctx context.Context) error {
	inst := m.state.running()
	if inst == nil {
		return nil
	}
	select {
	case <-inst.exited:
		m.stop(inst)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop kills QEMU of inst, releases its connections, and marks the
// machine stopped if inst is its current instance.
func (m *Machine) stop(inst *instance) {
	inst.kill()
	inst.close()
	m.state.detach(inst)
}

// Close kills QEMU if it still runs and releases everything the machine
// holds except its disk. It is safe to call more than once.
func (m *Machine) Close() error {
	m.Crash()
	return nil
}
