package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmtest/vmtest/vm"
	"github.com/vmtest/vmtest/vm/disk"
	"github.com/vmtest/vmtest/vm/lines"
	"github.com/vmtest/vmtest/vm/wire"
)

// Machine is one machine of a Network. Actions boot it first if it is not
// running ("machines start on first use"), so a machine that was shut
// down or crashed comes back, with the same disk, at the next command.
// Methods are safe for concurrent use; boots of one machine are
// serialised.
type Machine struct {
	net   *Network
	spec  Spec
	index int // in the order of Define: its run directory
	num   int // host number in its subnets
	files []wire.File
	// hidden are the host's paths the machine does not see (hide.go).
	hidden []wire.Hidden

	mu sync.Mutex // held during boots and power changes
	vm *vm.Machine
	// current is vm as soon as it exists, and during its boots, for
	// Running and Crash, which must not wait for a boot (and mu).
	current atomic.Pointer[vm.Machine]
	con     *lines.History // the whole run's console, across boots
	logFile *os.File
	closed  bool
	disk    disk.Image // made at the first boot
	// cleanOff is set while the machine is off because vmtest powered it
	// off cleanly; lost says why data on its disk may be missing (its
	// power was cut at least once), "" if nothing was lost.
	cleanOff bool
	lost     string
}

// Name returns the machine's name (and host name).
func (m *Machine) Name() string { return m.spec.Name }

// Spec returns the machine's configuration.
func (m *Machine) Spec() Spec { return m.spec }

// NICs returns the machine's network interfaces, one per vlan, with their
// MACs and addresses; Socket is empty until the first boot.
func (m *Machine) NICs() []vm.NIC {
	var nics []vm.NIC
	for _, v := range m.spec.VLANs {
		v4, v6 := NICAddrs(v, m.num, m.spec.Addresses)
		nics = append(nics, vm.NIC{MAC: MAC(v, m.num), Addrs: []string{v4, v6}})
	}
	return nics
}

// Running reports whether the machine is up. It does not wait for a boot
// in progress (the machine is not up yet).
func (m *Machine) Running() bool {
	v := m.current.Load()
	return v != nil && v.Running()
}

// Start boots the machine unless it is running, and returns when its
// agent answers. A failed boot is an *Error with the console tail.
func (m *Machine) Start(ctx context.Context) error {
	_, err := m.running(ctx)
	return err
}

// running returns the running guest, booting it first if need be.
func (m *Machine) running(ctx context.Context) (*vm.Machine, error) {
	if err := m.net.act(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.bootLocked(ctx); err != nil {
		return nil, err
	}
	return m.vm, nil
}

func (m *Machine) bootLocked(ctx context.Context) error {
	if m.closed {
		return m.errorf(nil, "the network is closed")
	}
	if m.vm != nil && m.vm.Running() {
		return nil
	}
	log := m.net.log
	start := time.Now()
	log.Machinef(m.Name(), "booting")
	var err error
	if m.vm != nil {
		if !m.cleanOff {
			m.noteLost("it stopped by itself (powered off, reset or panicked)")
		}
		err = m.vm.Boot(ctx) // releases what a guest that stopped on its own left
	} else {
		err = m.firstBoot(ctx)
	}
	if err != nil {
		if ctx.Err() != nil {
			return m.errorf(context.Cause(ctx), "boot cancelled: %v", context.Cause(ctx))
		}
		return m.errorf(err, "did not boot: %s", reason(err))
	}
	m.cleanOff = false
	if err := m.prepareCoverage(ctx); err != nil {
		return err
	}
	log.Machinef(m.Name(), "up after %s%s", round(time.Since(start)), bootHow(m.vm.LastBoot()))
	if sock := m.vm.VNCSocket(); sock != "" && m.net.opts.ShowScreens {
		log.Machinef(m.Name(), "screen: VNC on unix socket %s", sock)
	}
	return nil
}

// bootHow says, for the "up" line, whether a boot used a boot snapshot.
func bootHow(b vm.BootInfo) string {
	switch {
	case b.Revived:
		return " (from the boot snapshot)"
	case b.Saved:
		return " (booted cold, boot snapshot saved)"
	case b.Note != "":
		return " (" + b.Note + ")"
	}
	return ""
}

// firstBoot makes the machine's directory, disk, NICs and console log and
// starts it.
func (m *Machine) firstBoot(ctx context.Context) error {
	if m.net.opts.Artifacts == nil {
		return errors.New("this network cannot boot machines (no artifacts)")
	}
	art, err := m.net.opts.Artifacts(ctx)
	if err != nil {
		return err
	}
	rd, sw, err := m.net.runDir()
	if err != nil {
		return err
	}
	dir, err := rd.Machine(m.index)
	if err != nil {
		return err
	}
	nics := m.NICs()
	if sw != nil {
		for i, v := range m.spec.VLANs {
			if nics[i].Socket, err = sw.Attach(v, m.Name()); err != nil {
				return err
			}
		}
	} else {
		nics = nil
	}
	img, kept := m.net.opts.Disks[m.Name()]
	if !kept {
		// Made by the boot's first phase (see package vm), afresh.
		img = disk.Image{Path: filepath.Join(dir, "disk.img"), Format: "raw"}
		os.Remove(img.Path)
	}
	m.disk = img
	m.con.SetOut(m.consoleSink())
	v, err := vm.New(art, vm.Config{
		Name:         m.Name(),
		Memory:       m.spec.Memory,
		CPUs:         m.spec.CPUs,
		Disk:         img,
		Dir:          dir,
		Console:      m.con,
		Hide:         m.hidden,
		Files:        m.files,
		User:         m.userNet(),
		NICs:         nics,
		KernelParams: m.spec.KernelParams,
		QEMUOpts:     append(slices.Clone(m.spec.QEMUOpts), m.net.opts.QEMUOpts...),
		Jobs:         m.jobs(),
		Display:      m.spec.HasDisplay(),
		OnEvent:      m.onEvent,
	})
	if err != nil {
		return err
	}
	m.current.Store(v)
	if err := v.Boot(ctx); err != nil {
		m.current.Store(nil)
		return err
	}
	m.vm = v
	return nil
}

// consoleSink is where the console goes: <name>.console.log in the output
// directory, and the terminal with -v.
func (m *Machine) consoleSink() io.Writer {
	var ws []io.Writer
	if dir := m.net.opts.OutDir; dir != "" {
		f, err := os.Create(filepath.Join(dir, m.Name()+".console.log"))
		if err != nil {
			m.net.log.Machinef(m.Name(), "cannot keep the console log: %v", err)
		} else {
			m.logFile = f
			ws = append(ws, f)
		}
	}
	if w := m.net.log.Console(m.Name()); w != nil {
		ws = append(ws, w)
	}
	return io.MultiWriter(ws...)
}

// errorf returns an *Error about m, wrapping err (which may be nil), with
// the console tail.
func (m *Machine) errorf(err error, format string, args ...any) *Error {
	return &Error{Machine: m.Name(), Msg: fmt.Sprintf(format, args...), Err: err, Console: m.con.Tail(reportConsoleLines)}
}

// Shutdown powers the machine off cleanly (its processes are stopped and
// its disk synced); nothing happens if it is not running.
func (m *Machine) Shutdown(ctx context.Context) error {
	if err := m.net.act(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.vm == nil || !m.vm.Running() {
		return nil
	}
	if err := m.vm.Shutdown(ctx); err != nil {
		m.noteLost("it did not power off cleanly")
		return m.errorf(err, "shutdown: %s", reason(err))
	}
	m.cleanOff = true
	m.net.log.Machinef(m.Name(), "shut down")
	return nil
}

// Crash cuts the machine's power: what it had synced to disk survives.
// A boot in progress fails at once; nothing happens if the machine is not
// running.
func (m *Machine) Crash() error {
	if err := m.net.act(); err != nil {
		return err
	}
	if v := m.current.Load(); v != nil && v.Phase() == vm.Booting {
		v.Crash() // at once: the boot fails and releases mu
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.vm != nil && m.vm.Running() {
		m.vm.Crash()
		m.noteLost("its power was cut (crash())")
		m.net.log.Machinef(m.Name(), "crashed (power cut)")
	}
	return nil
}

// Reboot powers the machine off cleanly and boots it again with the same
// disk; a machine that is not running is just booted.
func (m *Machine) Reboot(ctx context.Context) error {
	if err := m.net.act(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.vm != nil && m.vm.Running() {
		m.net.log.Machinef(m.Name(), "rebooting")
		if err := m.vm.Shutdown(ctx); err != nil {
			m.noteLost("it did not power off cleanly")
			return m.errorf(err, "reboot: %s", reason(err))
		}
		m.cleanOff = true
	}
	return m.bootLocked(ctx)
}

// WaitForShutdown waits until the machine stops by itself (its guest
// powers off) or ctx is done; it returns at once if it is not running.
func (m *Machine) WaitForShutdown(ctx context.Context) error {
	if err := m.net.act(); err != nil {
		return err
	}
	m.mu.Lock()
	v := m.vm
	m.mu.Unlock()
	if v == nil || !v.Running() {
		return nil
	}
	m.net.log.Machinef(m.Name(), "waiting for it to power off")
	if err := v.Wait(ctx); err != nil {
		return m.errorf(err, "still running: %v", context.Cause(ctx))
	}
	m.net.log.Machinef(m.Name(), "stopped")
	return nil
}

// close stops the machine for good and closes its console log.
func (m *Machine) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	if m.vm != nil {
		m.vm.Close()
	}
	if m.logFile != nil {
		m.logFile.Close()
	}
}

// commandString shows a command in messages: the shell string, or the
// argument vector as a shell would read it back.
func commandString(c Command) string {
	if c.Shell != "" || len(c.Argv) == 0 {
		return c.Shell
	}
	words := make([]string, len(c.Argv))
	for i, a := range c.Argv {
		words[i] = shellQuote(a)
	}
	return strings.Join(words, " ")
}

// shellQuote returns s as one POSIX shell word.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}
