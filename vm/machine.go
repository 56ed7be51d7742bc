// Package vm runs one QEMU guest from the host side: its command line, its
// sockets, its boot, and the agent connection that drives it. Subpackages
// hold the pieces: kernel (discovery and vmlinux), initramfs, disk, accel,
// qmp, wire (the host–guest protocol) and agent (the guest side).
package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vmtest/vmtest/vm/disk"
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
// concurrent use. Close must be called to release it; it kills QEMU if it
// still runs.
type Machine struct {
	art *Artifacts
	cfg Config

	mu   sync.Mutex
	inst *instance // the current QEMU process; nil when stopped
	con  *console
	last BootInfo // how inst booted
}

// instance is one QEMU process and its connections.
type instance struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when QEMU has exited and been waited for
	err    error         // QEMU's exit error, valid after exited
	stderr *tailBuffer
	agent  *wire.Client
	qmp    *qmp.Client
	conns  []net.Conn
	wg     sync.WaitGroup // console copier
	// ram is the guest's memory, shared with QEMU, of a machine that is
	// to save the boot snapshot of its shape (nil once saved).
	ram *os.File
}

// Start boots a machine and returns when its agent has switched into the
// machine's root and is ready for requests. Unless art was prepared with
// Options.NoSnapshot, the machine is revived from the boot snapshot of its
// shape, or boots cold and saves that snapshot (see snapshot.go); Start
// may then wait while another machine of the shape saves it. It fails, with the console tail
// in the error, when QEMU exits, the guest does not answer within the boot
// timeout, or ctx is done; nothing is left running then.
func Start(ctx context.Context, art *Artifacts, cfg Config) (*Machine, error) {
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
		return nil, fmt.Errorf("machine %s: a display needs the kernel's bochs DRM driver and evdev: %v", cfg.Name, art.DisplayErr)
	}
	m := &Machine{art: art, cfg: cfg, con: newConsole(cfg.Console)}
	if err := m.boot(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Name returns the machine's name.
func (m *Machine) Name() string { return m.cfg.Name }

// ConsoleTail returns up to n of the last lines of the serial console.
func (m *Machine) ConsoleTail(n int) []string { return m.con.Tail(n) }

// BootError says why a machine did not come up.
type BootError struct {
	Machine string
	Reason  string
	Stderr  string   // what QEMU printed
	Console []string // the last console lines
}

func (e *BootError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "machine %s: %s", e.Machine, e.Reason)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		fmt.Fprintf(&b, "\nqemu: %s", s)
	}
	if len(e.Console) > 0 {
		fmt.Fprintf(&b, "\nlast console lines:\n  %s", strings.Join(e.Console, "\n  "))
	}
	return b.String()
}

func (m *Machine) bootError(inst *instance, format string, args ...any) error {
	return &BootError{Machine: m.cfg.Name, Reason: fmt.Sprintf(format, args...), Stderr: inst.stderr.String(), Console: m.con.Tail(20)}
}

func (m *Machine) boot(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.inst != nil {
		return fmt.Errorf("machine %s is already running", m.cfg.Name)
	}
	store, key := m.art.snapshots, ""
	if ownsMemory(m.cfg.QEMUOpts) {
		store = nil // boots cold
	}
	if store != nil {
		key = m.snapshotKey()
	}
	// A snapshot that QEMU refuses, or whose machine does not come up, is
	// removed and the machine boots cold, saving it anew; a third attempt
	// never revives.
	for attempt := 1; ; attempt++ {
		plan, err := store.plan(ctx, key)
		if err != nil {
			return fmt.Errorf("machine %s: waiting for the boot snapshot of its shape: %w", m.cfg.Name, err)
		}
		if plan.revive != nil && attempt > 2 {
			plan.revive.Close()
			plan = coldPlan("")
		}
		inst, err := m.start(ctx, plan)
		var refused *refusedError
		if errors.As(err, &refused) && ctx.Err() == nil {
			why := refused.err.Error()
			if be, ok := refused.err.(*BootError); ok {
				why = be.Reason
				if lines := strings.Split(strings.TrimSpace(be.Stderr), "\n"); lines[len(lines)-1] != "" {
					why += ": " + lines[len(lines)-1]
				}
			}
			m.consoleNote("the boot snapshot was refused (%s); booting cold", why)
			store.reject(ctx, key, plan.id)
			continue
		}
		if err != nil {
			return err
		}
		m.inst = inst
		return nil
	}
}

// refusedError is a revive from a boot snapshot that failed: QEMU did not
// load it, or the machine did not answer after it.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// consoleNote writes a line of vmtest's own on the machine's console log.
func (m *Machine) consoleNote(format string, args ...any) {
	fmt.Fprintf(m.con, "[vmtest: "+format+"]\n", args...)
}

// start starts QEMU as plan says and returns when the agent has switched
// into the machine's root.
func (m *Machine) start(ctx context.Context, plan *bootPlan) (_ *instance, err error) {
	defer func() {
		if err != nil {
			plan.done(fmt.Errorf("the machine that was to save it did not boot: %v", err))
		}
	}()
	if plan.note != "" {
		m.consoleNote("%s", plan.note)
	}
	ctx, cancel := context.WithTimeout(ctx, m.cfg.BootTimeout)
	defer cancel()

	if m.cfg.User != nil {
		for _, f := range m.cfg.User.Forwards {
			if err := CheckHostPort(f.Host); err != nil {
				return nil, fmt.Errorf("machine %s: forwarding to guest port %d: %w", m.cfg.Name, f.Guest, err)
			}
		}
	}
	socks := map[string]string{}
	lns := map[string]*net.UnixListener{}
	closeAll := func() {
		for _, l := range lns {
			l.Close()
		}
	}
	defer closeAll()
	if plan.revive != nil {
		defer plan.revive.Close()
	}
	for _, name := range []string{"console", "qmp", "agent"} {
		p := filepath.Join(m.cfg.Dir, name+".sock")
		if len(p) >= 108 {
			return nil, fmt.Errorf("machine %s: socket path %s is longer than a unix socket allows (107 bytes); use a shorter TMPDIR", m.cfg.Name, p)
		}
		os.Remove(p)
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
		if err != nil {
			return nil, fmt.Errorf("machine %s: %v", m.cfg.Name, err)
		}
		socks[name], lns[name] = p, l
	}
	if m.cfg.Display {
		// QEMU listens on this one, for whoever wants to watch.
		p := m.VNCSocket()
		if len(p) >= 108 {
			return nil, fmt.Errorf("machine %s: socket path %s is longer than a unix socket allows (107 bytes); use a shorter TMPDIR", m.cfg.Name, p)
		}
		os.Remove(p)
		socks["vnc"] = p
	}

	socks["root"] = m.viewRoot()
	inst := &instance{exited: make(chan struct{}), stderr: &tailBuffer{max: 8 << 10}}
	args := m.qemuArgs(socks)
	// The guest's memory is a file, descriptor 3 of QEMU, when it comes
	// from a boot snapshot or goes into one (see snapfile.go).
	var fd3 *os.File
	switch {
	case plan.revive != nil:
		if want := int64(m.cfg.Memory) << 20; plan.header.RAMSize != want {
			return nil, &refusedError{fmt.Errorf("machine %s: the boot snapshot holds %d bytes of memory, want %d", m.cfg.Name, plan.header.RAMSize, want)}
		}
		// Mapped privately: the guest's writes stay in this QEMU. The
		// stream is read from the descriptor's offset once the
		// migration capabilities are set (see below).
		args = append(args, ramBackend(m.cfg.Memory, false)...)
		args = append(args, "-incoming", "defer", "-global", "migration.announce-rounds=0")
		fd3 = plan.revive
	case plan.build:
		ram, err := guestRAM(m.cfg.Memory)
		if err != nil {
			return nil, fmt.Errorf("machine %s: %v", m.cfg.Name, err)
		}
		inst.ram = ram
		args = append(args, ramBackend(m.cfg.Memory, true)...)
		fd3 = ram
	}
	if inst.cmd, err = m.qemuCommand(args); err != nil {
		return nil, fmt.Errorf("machine %s: %v", m.cfg.Name, err)
	}
	inst.cmd.Stderr = inst.stderr
	inst.cmd.Stdout = inst.stderr
	if fd3 != nil {
		inst.cmd.ExtraFiles = []*os.File{fd3}
	}
	if inst.cmd.SysProcAttr == nil {
		inst.cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// QEMU dies with vmtest, even on SIGKILL; and a Ctrl-C at the
	// terminal reaches vmtest only, which stops machines in order.
	inst.cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	inst.cmd.SysProcAttr.Setpgid = true
	started := make(chan error, 1)
	startedAt := time.Now()
	go func() {
		// The parent-death signal fires when the forking *thread* exits, so
		// the thread that starts QEMU stays locked to this goroutine, which
		// lives until QEMU has exited.
		runtime.LockOSThread()
		if err := inst.cmd.Start(); err != nil {
			started <- err
			close(inst.exited)
			return
		}
		started <- nil
		inst.err = inst.cmd.Wait()
		close(inst.exited)
	}()
	if err := <-started; err != nil {
		inst.close()
		return nil, fmt.Errorf("machine %s: starting %s: %v", m.cfg.Name, m.art.QEMU, err)
	}
	fail := func(err error) (*instance, error) {
		inst.kill()
		inst.close()
		if plan.revive != nil {
			return nil, &refusedError{err}
		}
		return nil, err
	}

	conns := map[string]net.Conn{}
	for _, name := range []string{"console", "qmp", "agent"} {
		c, err := accept(ctx, lns[name], inst.exited)
		if err != nil {
			if isExited(inst.exited) {
				return fail(m.bootError(inst, "qemu exited before connecting its %s socket (%v)", name, inst.err))
			}
			return fail(m.bootError(inst, "waiting for qemu to connect its %s socket: %v", name, err))
		}
		conns[name] = c
		inst.conns = append(inst.conns, c)
	}
	q, err := qmp.New(ctx, conns["qmp"])
	if err != nil {
		return fail(m.bootError(inst, "qmp handshake: %v", err))
	}
	inst.qmp = q
	var boot *consoleCapture
	console := io.Writer(m.con)
	if plan.build {
		// The boot up to hello, for the machines revived from it.
		boot = &consoleCapture{max: maxSnapConsole}
		console = io.MultiWriter(m.con, boot)
	}
	inst.wg.Add(1)
	go func() {
		defer inst.wg.Done()
		io.Copy(console, conns["console"])
	}()
	hello := make(chan wire.Event, 1)
	inst.agent = wire.NewClient(conns["agent"], func(ev wire.Event) {
		if ev.Name == "hello" {
			select {
			case hello <- ev:
			default:
			}
		} else if m.cfg.OnEvent != nil {
			m.cfg.OnEvent(ev)
		}
	})

	info := BootInfo{Revived: plan.revive != nil}
	var uptime time.Duration // the guest's, at hello
	if plan.revive != nil {
		// The revived agent said hello long ago, in the machine that saved
		// the snapshot; it waits for configure.
		err := loadSnapshot(ctx, q)
		if err == nil {
			err = waitIncoming(ctx, q)
		}
		if err != nil {
			if isExited(inst.exited) {
				return fail(m.bootError(inst, "qemu could not load the boot snapshot (%v)", inst.err))
			}
			return fail(m.bootError(inst, "loading the boot snapshot: %v", err))
		}
		// What the machine that saved the snapshot printed up to it is
		// this machine's boot too.
		m.con.Write(plan.console)
		if n := len(plan.console); n > 0 && plan.console[n-1] != '\n' {
			m.con.Write([]byte("\n"))
		}
		m.consoleNote("revived here from boot snapshot %s, saved %s; the lines above are the boot that saved it",
			plan.key[:12], plan.header.Created.Local().Format(time.DateTime))
	} else {
		select {
		case ev := <-hello:
			if ev.Version != wire.ProtocolVersion {
				return fail(m.bootError(inst, "the guest agent speaks protocol %q, this vmtest speaks %q: rebuild so both are the same binary", ev.Version, wire.ProtocolVersion))
			}
			uptime = time.Duration(ev.UptimeMS) * time.Millisecond
		case <-inst.exited:
			return fail(m.bootError(inst, "%s during boot", m.stopReason(inst)))
		case <-ctx.Done():
			return fail(m.bootError(inst, "the guest agent did not say hello within %s", m.cfg.BootTimeout))
		}
		if plan.build {
			err := checkGuestClock(uptime, time.Since(startedAt))
			if err == nil {
				err = m.saveSnapshot(ctx, inst, plan.store.path(plan.key), boot)
			}
			// The guest's memory is QEMU's alone from now on.
			inst.ram.Close()
			inst.ram = nil
			plan.done(err)
			if err != nil {
				info.Note = "boot snapshot not saved: " + err.Error()
				m.consoleNote("%s", info.Note)
			} else {
				info.Saved = true
			}
		}
	}

	req := wire.Request{
		Op:       wire.OpConfigure,
		TimeNS:   time.Now().UnixNano(),
		Hostname: m.cfg.Name,
		RootTag:  "root",
		Hide:     m.cfg.Hide,
		Files:    m.cfg.Files,
		Entropy:  entropy(),
	}
	if m.cfg.Disk.Path != "" {
		req.Disk = "vda"
	}
	if m.cfg.User != nil {
		// In its automatic slot, below the NICs': the first NIC no entry
		// names by address.
		req.Interfaces = append(req.Interfaces, userNetInterface(m.cfg.User))
	}
	for i, n := range m.cfg.NICs {
		req.Interfaces = append(req.Interfaces, wire.Interface{MAC: n.MAC, Addrs: n.Addrs, PCI: nicPCI(i)})
	}
	res, err := inst.agent.Call(ctx, req, nil, nil, nil)
	if err == nil && res.Error != "" {
		// The agent's own answer: something about this machine, which a
		// cold boot would not change.
		inst.kill()
		inst.close()
		return nil, m.bootError(inst, "setting up the root: %s", res.Error)
	}
	if err == nil {
		// The clock was set from a time taken before the agent read the
		// request, which a revived machine on a busy host reads seconds
		// later; now that it answers at once, set it again.
		res, err = inst.agent.Call(ctx, wire.Request{Op: wire.OpSetTime, TimeNS: time.Now().UnixNano()}, nil, nil, nil)
		if err == nil && res.Error != "" {
			err = errors.New(res.Error)
		}
	}
	if err != nil {
		if isExited(inst.exited) {
			return fail(m.bootError(inst, "%s while the agent set up the root", m.stopReason(inst)))
		}
		return fail(m.bootError(inst, "setting up the root: %v", err))
	}
	if len(m.cfg.Jobs) > 0 {
		res, err := inst.agent.Call(ctx, wire.Request{Op: wire.OpJobs, Jobs: m.cfg.Jobs}, nil, nil, nil)
		if err == nil && res.Error != "" {
			err = errors.New(res.Error)
		}
		if err != nil {
			return fail(m.bootError(inst, "declaring the jobs: %v", err))
		}
	}
	m.last = info
	return inst, nil
}

// BootInfo says how a machine's last boot went.
type BootInfo struct {
	// Revived: it started from the boot snapshot of its shape.
	Revived bool
	// Saved: it booted cold and saved the boot snapshot of its shape.
	Saved bool
	// Note says why a snapshot could not be saved, "" if nothing went
	// wrong.
	Note string
}

// LastBoot says how the machine's last successful boot went.
func (m *Machine) LastBoot() BootInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last
}

// accept waits for one connection on l, giving up when QEMU exits or ctx
// is done.
func accept(ctx context.Context, l *net.UnixListener, exited <-chan struct{}) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-exited:
	case <-ctx.Done():
	}
	l.Close() // unblocks Accept
	if r := <-ch; r.err == nil {
		r.c.Close()
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, errors.New("qemu exited")
}

func isExited(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// stopReason says why an exited QEMU stopped: a guest kernel panic (found
// on the console), a power off or reset by the guest (QEMU exits 0 under
// -no-reboot), or QEMU's own failure.
func (m *Machine) stopReason(inst *instance) string {
	if p := m.con.Panic(); p != "" {
		return "the guest kernel panicked (" + p + ")"
	}
	if inst.err == nil {
		return "the guest powered off or reset"
	}
	return "qemu exited (" + inst.err.Error() + ")"
}

// kill stops QEMU at once (a power cut) and waits for it.
func (inst *instance) kill() {
	if inst.cmd.Process != nil && !isExited(inst.exited) {
		inst.cmd.Process.Kill()
	}
	<-inst.exited
}

// close releases the connections after QEMU has exited and waits for the
// goroutines reading them.
func (inst *instance) close() {
	if inst.agent != nil {
		inst.agent.Close()
	}
	if inst.qmp != nil {
		inst.qmp.Close()
	}
	if inst.ram != nil {
		inst.ram.Close()
		inst.ram = nil
	}
	for _, c := range inst.conns {
		c.Close()
	}
	inst.wg.Wait()
}

// current returns the running instance or an error naming the machine.
func (m *Machine) current() (*instance, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.inst == nil {
		return nil, fmt.Errorf("machine %s is not running", m.cfg.Name)
	}
	return m.inst, nil
}

// QMP returns the QEMU monitor of the running machine, for what the agent
// cannot do from inside (screen dumps, device changes). Calls on it fail
// once the machine stops.
func (m *Machine) QMP() (*qmp.Client, error) {
	inst, err := m.current()
	if err != nil {
		return nil, err
	}
	return inst.qmp, nil
}

// Running reports whether QEMU runs.
func (m *Machine) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.inst != nil && !isExited(m.inst.exited)
}

// Call sends one request to the agent and waits for its result (see
// wire.Client.Call). If the machine stops meanwhile, the error says so with
// the console tail.
func (m *Machine) Call(ctx context.Context, req wire.Request, stdin io.Reader, stdout, stderr io.Writer) (wire.Result, error) {
	inst, err := m.current()
	if err != nil {
		return wire.Result{}, err
	}
	res, err := inst.agent.Call(ctx, req, stdin, stdout, stderr)
	if errors.Is(err, wire.ErrClosed) {
		select {
		case <-inst.exited:
		case <-time.After(time.Second):
		}
		return res, m.bootError(inst, "%s during %s", m.stopReason(inst), req.Op)
	}
	return res, err
}

// Shutdown powers the machine off cleanly: the agent stops all processes
// and syncs the disk. If the guest does not power off within 30 s, or ctx
// ends first, QEMU is killed and the error says so: the disk then holds
// only what had been synced.
func (m *Machine) Shutdown(ctx context.Context) error {
	return m.powerCycle(ctx, wire.OpPoweroff)
}

// Reboot restarts the machine: a clean power off, then a new boot with the
// same disk.
func (m *Machine) Reboot(ctx context.Context) error {
	if err := m.powerCycle(ctx, wire.OpReboot); err != nil {
		return err
	}
	return m.boot(ctx)
}

func (m *Machine) powerCycle(ctx context.Context, op string) error {
	inst, err := m.current()
	if err != nil {
		return err
	}
	_, callErr := inst.agent.Call(ctx, wire.Request{Op: op}, nil, nil, nil)
	t := time.NewTimer(shutdownTimeout)
	defer t.Stop()
	var stuck error // why QEMU had to be killed
	select {
	case <-inst.exited:
	case <-t.C:
		stuck = fmt.Errorf("the guest did not power off within %s; its power was cut", shutdownTimeout)
	case <-ctx.Done():
		stuck = fmt.Errorf("%v; its power was cut", context.Cause(ctx))
	}
	m.stop(inst)
	if callErr != nil && !errors.Is(callErr, wire.ErrClosed) {
		return fmt.Errorf("machine %s: %s: %v", m.cfg.Name, op, callErr)
	}
	if stuck != nil {
		return fmt.Errorf("machine %s: %s: %w", m.cfg.Name, op, stuck)
	}
	return nil
}

// Crash cuts the power: QEMU is killed at once. What the guest had synced
// to its disk survives; what was only in its page cache does not.
func (m *Machine) Crash() {
	m.mu.Lock()
	inst := m.inst
	m.mu.Unlock()
	if inst != nil {
		m.stop(inst)
	}
}

// Wait blocks until the machine stops on its own (its QEMU exits) or ctx
// is done.
func (m *Machine) Wait(ctx context.Context) error {
	inst, err := m.current()
	if err != nil {
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

// Boot starts a stopped machine again with the same disk.
func (m *Machine) Boot(ctx context.Context) error { return m.boot(ctx) }

func (m *Machine) stop(inst *instance) {
	inst.kill()
	inst.close()
	m.mu.Lock()
	if m.inst == inst {
		m.inst = nil
	}
	m.mu.Unlock()
}

// Close kills QEMU if it still runs and releases everything the machine
// holds except its disk. It is safe to call more than once.
func (m *Machine) Close() error {
	m.Crash()
	return nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
