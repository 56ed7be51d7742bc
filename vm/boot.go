package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/vmtest/vmtest/vm/disk"
	"github.com/vmtest/vmtest/vm/guest"
	"github.com/vmtest/vmtest/vm/lines"
	"github.com/vmtest/vmtest/vm/qmp"
	"github.com/vmtest/vmtest/vm/wire"
)

// kind is how one kind of machine boots: the phases a boot runs, in
// order. It is the seam for the kinds to come (see the package doc): each
// supplies its own list, and the lifecycle around it (the state, Crash,
// the boot snapshot's retries, the error on failure) stays the same.
type kind interface {
	phases(b *bootRun) []phase
}

// phase is one step of a boot. Its run gives up when ctx is done (the
// boot timeout, the caller's context, or Crash).
type phase struct {
	name string // what the machine is doing, for errors: "making its disk"
	run  func(ctx context.Context) error
	// afterQEMU: QEMU runs (it was started by an earlier phase). A revive's
	// failure from here on is the boot snapshot's (see refusedError).
	afterQEMU bool
}

// hostRoot is today's kind: the host's root over 9p, the vmtest agent as
// init, revived from the boot snapshot of its shape when there is one.
type hostRoot struct{}

func (hostRoot) phases(b *bootRun) []phase {
	ps := []phase{
		{name: "making its disk", run: b.prepareDisk},
		{name: "opening its sockets", run: b.listen},
		{name: "starting qemu", run: b.startQEMU, afterQEMU: true},
		{name: "connecting to qemu", run: b.connect, afterQEMU: true},
	}
	if b.plan.revive != nil {
		ps = append(ps, phase{name: "loading the boot snapshot", run: b.revive, afterQEMU: true})
	} else {
		ps = append(ps, phase{name: "waiting for the agent's hello", run: b.hello, afterQEMU: true})
	}
	if b.plan.build {
		ps = append(ps, phase{name: "saving the boot snapshot", run: b.saveSnapshot, afterQEMU: true})
	}
	return append(ps, phase{name: "configuring", run: b.configure, afterQEMU: true})
}

// bootRun is one attempt at booting a machine as plan says: what its
// phases share.
type bootRun struct {
	m    *Machine
	plan *bootPlan
	inst *instance // once QEMU started

	socks     map[string]string            // socket paths by name
	lns       map[string]*net.UnixListener // the sockets vmtest listens on
	conns     map[string]net.Conn          // QEMU's connections to them
	hellos    chan wire.Event
	capture   *consoleCapture // the boot's console, for the snapshot
	startedAt time.Time
	uptime    time.Duration // the guest's, at hello
	info      BootInfo
}

// run runs the kind's phases, bounded by the boot timeout, and leaves
// nothing running when one fails.
func (b *bootRun) run(ctx context.Context) (err error) {
	m := b.m
	ctx, cancel := context.WithTimeout(ctx, m.cfg.BootTimeout)
	defer cancel()
	defer b.closeListeners()
	if b.plan.revive != nil {
		defer b.plan.revive.Close()
	}
	defer func() {
		if err != nil {
			b.plan.done(fmt.Errorf("the machine that was to save it did not boot: %w", err))
			if b.inst != nil {
				b.inst.kill()
				b.inst.close()
			}
		}
	}()
	if b.plan.note != "" {
		m.consoleNote("%s", b.plan.note)
	}
	b.info.Revived = b.plan.revive != nil
	for _, p := range m.kind.phases(b) {
		m.state.enter(p.name)
		if err := p.run(ctx); err != nil {
			if p.afterQEMU && b.plan.revive != nil && !errors.Is(err, guest.ErrFailed) {
				return &refusedError{err}
			}
			return err
		}
	}
	return nil
}

// prepareDisk makes the machine's disk, an empty ext4 file system, if its
// file does not exist yet (a disk made by an earlier boot is kept).
func (b *bootRun) prepareDisk(ctx context.Context) error {
	d := b.m.cfg.Disk
	if d.Path == "" {
		return nil
	}
	if _, err := os.Stat(d.Path); !errors.Is(err, os.ErrNotExist) {
		return nil // there, or to be reported by QEMU
	}
	if _, err := disk.Create(ctx, d.Path, disk.DefaultSize); err != nil {
		return fmt.Errorf("machine %s: %w", b.m.cfg.Name, err)
	}
	return nil
}

// listen opens the sockets QEMU connects to, and checks the host ports
// the user network forwards.
func (b *bootRun) listen(ctx context.Context) error {
	m := b.m
	for _, f := range m.forwards() {
		if err := CheckHostPort(f.Host); err != nil {
			return fmt.Errorf("machine %s: forwarding to guest port %d: %w", m.cfg.Name, f.Guest, err)
		}
	}
	b.socks, b.lns = map[string]string{}, map[string]*net.UnixListener{}
	for _, name := range []string{"console", "qmp", "agent"} {
		p, err := m.socketPath(name + ".sock")
		if err != nil {
			return err
		}
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
		if err != nil {
			return fmt.Errorf("machine %s: %w", m.cfg.Name, err)
		}
		b.socks[name], b.lns[name] = p, l
	}
	if m.cfg.Display {
		// QEMU listens on this one, for whoever wants to watch.
		p, err := m.socketPath(filepath.Base(m.VNCSocket()))
		if err != nil {
			return err
		}
		b.socks["vnc"] = p
	}
	return nil
}

// socketPath returns the path of the socket called name in the machine's
// directory, with any old one removed.
func (m *Machine) socketPath(name string) (string, error) {
	p := filepath.Join(m.cfg.Dir, name)
	if len(p) >= 108 {
		return "", fmt.Errorf("machine %s: socket path %s is longer than a unix socket allows (107 bytes); use a shorter TMPDIR", m.cfg.Name, p)
	}
	os.Remove(p)
	return p, nil
}

func (b *bootRun) closeListeners() {
	for _, l := range b.lns {
		l.Close()
	}
}

// forwards returns the user network's port forwards now.
func (m *Machine) forwards() []Forward {
	m.state.mu.Lock()
	defer m.state.mu.Unlock()
	return append([]Forward(nil), m.state.forwards...)
}

// startQEMU starts QEMU and makes it the machine's instance.
func (b *bootRun) startQEMU(ctx context.Context) error {
	m, plan := b.m, b.plan
	inst := &instance{exited: make(chan struct{}), stderr: lines.NewTail(8 << 10)}
	b.socks["root"] = m.viewRoot()
	args := m.qemuArgs(b.socks, m.forwards())
	// The guest's memory is a file, descriptor 3 of QEMU, when it comes
	// from a boot snapshot or goes into one (see snapfile.go).
	var fd3 *os.File
	switch {
	case plan.revive != nil:
		if want := int64(m.cfg.Memory) << 20; plan.header.RAMSize != want {
			return fmt.Errorf("machine %s: the boot snapshot holds %d bytes of memory, want %d", m.cfg.Name, plan.header.RAMSize, want)
		}
		// Mapped privately: the guest's writes stay in this QEMU. The
		// stream is read from the descriptor's offset once the
		// migration capabilities are set (see revive).
		args = append(args, ramBackend(m.cfg.Memory, false)...)
		args = append(args, "-incoming", "defer", "-global", "migration.announce-rounds=0")
		fd3 = plan.revive
	case plan.build:
		ram, err := guestRAM(m.cfg.Memory)
		if err != nil {
			return fmt.Errorf("machine %s: %w", m.cfg.Name, err)
		}
		inst.ram = ram
		args = append(args, ramBackend(m.cfg.Memory, true)...)
		fd3 = ram
	}
	cmd, err := m.qemuCommand(args)
	if err != nil {
		return fmt.Errorf("machine %s: %w", m.cfg.Name, err)
	}
	inst.cmd = cmd
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
	b.startedAt = time.Now()
	if err := inst.start(); err != nil {
		inst.close()
		return fmt.Errorf("machine %s: starting %s: %w", m.cfg.Name, m.art.QEMU, err)
	}
	b.inst = inst
	if !m.state.attach(inst) {
		return context.Cause(ctx) // Crash came first
	}
	return nil
}

// start starts QEMU on a goroutine that waits for it: the parent-death
// signal fires when the forking *thread* exits, so the thread that starts
// QEMU stays locked to that goroutine, which lives until QEMU has exited
// (and closes exited then).
func (inst *instance) start() error {
	started := make(chan error, 1)
	go func() {
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
	return <-started
}

// connect accepts QEMU's connections to the console, QMP and agent
// sockets, shakes hands on QMP, and starts copying the console and
// reading the agent's frames.
func (b *bootRun) connect(ctx context.Context) error {
	m, inst := b.m, b.inst
	b.conns = map[string]net.Conn{}
	for _, name := range []string{"console", "qmp", "agent"} {
		c, err := accept(ctx, b.lns[name], inst.exited)
		if err != nil {
			if isExited(inst.exited) {
				return m.bootError(inst, "qemu exited before connecting its %s socket (%v)", name, inst.err)
			}
			return m.bootError(inst, "waiting for qemu to connect its %s socket: %w", name, err)
		}
		b.conns[name] = c
		inst.conns = append(inst.conns, c)
	}
	q, err := qmp.New(ctx, b.conns["qmp"])
	if err != nil {
		return m.bootError(inst, "qmp handshake: %w", err)
	}
	inst.qmp = q
	console := io.Writer(m.con)
	if b.plan.build {
		// The boot up to hello, for the machines revived from it.
		b.capture = &consoleCapture{max: maxSnapConsole}
		console = io.MultiWriter(m.con, b.capture)
	}
	inst.wg.Add(1)
	go func() {
		defer inst.wg.Done()
		io.Copy(console, b.conns["console"])
	}()
	b.hellos = make(chan wire.Event, 1)
	inst.agent = wire.NewClient(b.conns["agent"], b.onEvent)
	return nil
}

// onEvent passes the agent's events on: hello to the boot, the others to
// Config.OnEvent.
func (b *bootRun) onEvent(ev wire.Event) {
	if ev.Name == "hello" {
		select {
		case b.hellos <- ev:
		default:
		}
	} else if b.m.cfg.OnEvent != nil {
		b.m.cfg.OnEvent(ev)
	}
}

// revive loads the boot snapshot into QEMU and lets it run. The revived
// agent said hello long ago, in the machine that saved the snapshot; it
// waits for configure.
func (b *bootRun) revive(ctx context.Context) error {
	m, inst, plan := b.m, b.inst, b.plan
	err := loadSnapshot(ctx, inst.qmp)
	if err == nil {
		err = waitIncoming(ctx, inst.qmp)
	}
	if err != nil {
		if isExited(inst.exited) {
			return m.bootError(inst, "qemu could not load the boot snapshot (%v)", inst.err)
		}
		return m.bootError(inst, "loading the boot snapshot: %w", err)
	}
	// What the machine that saved the snapshot printed up to it is this
	// machine's boot too.
	m.con.Write(plan.console)
	if n := len(plan.console); n > 0 && plan.console[n-1] != '\n' {
		m.con.Write([]byte("\n"))
	}
	m.consoleNote("revived here from boot snapshot %s, saved %s; the lines above are the boot that saved it",
		plan.key[:12], plan.header.Created.Local().Format(time.DateTime))
	return nil
}

// hello waits for the agent of a cold boot to say hello, in this vmtest's
// protocol.
func (b *bootRun) hello(ctx context.Context) error {
	m, inst := b.m, b.inst
	select {
	case ev := <-b.hellos:
		if ev.Version != wire.ProtocolVersion {
			return m.bootError(inst, "the guest agent speaks protocol %q, this vmtest speaks %q: rebuild so both are the same binary", ev.Version, wire.ProtocolVersion)
		}
		b.uptime = time.Duration(ev.UptimeMS) * time.Millisecond
		return nil
	case <-inst.exited:
		return m.bootError(inst, "%s during boot", m.stopReason(inst))
	case <-ctx.Done():
		if context.Cause(ctx) == ErrPowerCut {
			return ErrPowerCut
		}
		return m.bootError(inst, "the guest agent did not say hello within %s", m.cfg.BootTimeout)
	}
}

// saveSnapshot saves the boot snapshot of the machine's shape, stopped at
// its hello. A snapshot that cannot be saved is noted, not fatal.
func (b *bootRun) saveSnapshot(ctx context.Context) error {
	m, plan := b.m, b.plan
	err := checkGuestClock(b.uptime, time.Since(b.startedAt))
	if err == nil {
		err = m.saveSnapshot(ctx, b.inst, plan.store.path(plan.key), b.capture)
	}
	plan.done(err)
	if err != nil {
		if ctx.Err() != nil {
			return m.bootError(b.inst, "saving the boot snapshot: %w", context.Cause(ctx))
		}
		b.info.Note = "boot snapshot not saved: " + err.Error()
		m.consoleNote("%s", b.info.Note)
		return nil
	}
	b.info.Saved = true
	return nil
}

// configure gives the agent the machine's identity, root, files and
// network, sets its clock again, and declares its jobs.
func (b *bootRun) configure(ctx context.Context) error {
	m, inst := b.m, b.inst
	fail := func(what string, err error) error {
		if errors.Is(err, guest.ErrNotRunning) {
			return m.bootError(inst, "%s while the agent set up the root", m.stopReason(inst))
		}
		if errors.Is(err, guest.ErrFailed) {
			// The agent's own answer: something about this machine,
			// which a cold boot would not change.
			return &BootError{Machine: m.cfg.Name, Reason: what + ": " + err.(*guest.Error).Guest,
				Stderr: inst.stderr.String(), Console: m.con.Tail(20), err: err}
		}
		return m.bootError(inst, "%s: %w", what, err)
	}
	if _, err := m.callOn(ctx, inst, m.configureRequest(), nil, nil, nil); err != nil {
		return fail("setting up the root", err)
	}
	// The clock was set from a time taken before the agent read the
	// request, which a revived machine on a busy host reads seconds later;
	// now that it answers at once, set it again.
	if _, err := m.callOn(ctx, inst, wire.Request{Op: wire.OpSetTime, TimeNS: time.Now().UnixNano()}, nil, nil, nil); err != nil {
		return fail("setting up the root", err)
	}
	if len(m.cfg.Jobs) > 0 {
		if _, err := m.callOn(ctx, inst, wire.Request{Op: wire.OpJobs, Jobs: m.cfg.Jobs}, nil, nil, nil); err != nil {
			return fail("declaring the jobs", err)
		}
	}
	return nil
}

// configureRequest is the configure request of the machine's config.
func (m *Machine) configureRequest() wire.Request {
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
	return req
}
