//go:build linux

package agent

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/vm/wire"
)

// portWait bounds the search for the agent's port after the modules are
// loaded; past it the agent gives up and powers off, so the host sees QEMU
// exit instead of waiting on a silent guest.
const portWait = 20 * time.Second

// Main is PID 1 in the guest. It never returns: when serving ends (the host
// asked for power off, or the port closed) the machine powers off. The
// version is what the hello event reports.
func Main(version string) {
	logf("vmtest agent %s starting", version)
	if err := earlyMounts(); err != nil {
		fatal(err)
	}
	tracing = traceRequested()
	trace("mounted /dev /proc /sys")
	if err := loadModules("/modules.order"); err != nil {
		fatal(err)
	}
	trace("modules loaded")
	if err := loadDeviceModules(); err != nil {
		fatal(err)
	}
	trace("device modules loaded")
	bn, err := prepareNetwork()
	if err != nil {
		fatal(err)
	}
	trace("network prepared")
	freeInitramfs()
	warmWire()
	port, err := openPort(wire.PortName, portWait)
	if err != nil {
		fatal(err)
	}
	trace("port open")
	reaper := NewReaper()
	ctx := context.Background()
	go reaper.Run(ctx)
	s := NewServer(port, port, reaper)
	s.Configure = func(ctx context.Context, req wire.Request) error { return configure(ctx, req, bn) }
	// Jobs get a cgroup each, so that stopping one stops all it forked.
	s.Jobs.Cgroup = "/sys/fs/cgroup"
	s.Jobs.RunRoot = "/"
	s.Power = func(reboot bool) {
		stopJobs(s.Jobs)
		powerDown(reboot)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	// The goroutines just started run until they wait (for SIGCHLD, for a
	// frame), and the runtime starts the threads they need (os/signal's
	// blocks one), before hello rather than after it: in a machine revived
	// from the boot snapshot that would be code its QEMU translates afresh.
	time.Sleep(settleTime)
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	// The hello event is the boot snapshot point: nothing specific to this
	// machine has been read yet.
	if err := s.Event(wire.Event{Name: "hello", Version: wire.ProtocolVersion, UptimeMS: ts.Nano() / 1e6}); err != nil {
		fatal(fmt.Errorf("saying hello on %s: %w", wire.PortName, err))
	}
	err = <-served
	if err != nil {
		logf("serving the host: %v", err)
	} else {
		logf("the host closed the agent port")
	}
	stopJobs(s.Jobs)
	powerDown(false)
}

// settleTime is how long the agent lets its goroutines settle before
// hello (see Main).
const settleTime = 5 * time.Millisecond

// jobsStopLimit bounds the orderly stop of the jobs at power off, after
// which every process gets SIGTERM and SIGKILL anyway.
const jobsStopLimit = 20 * time.Second

// stopJobs stops the jobs in reverse order of their dependencies, so
// that they flush their state, before the power off kills the rest.
func stopJobs(sup *Supervisor) {
	ctx, cancel := context.WithTimeout(context.Background(), jobsStopLimit)
	defer cancel()
	sup.StopAll(ctx)
}

// tracing is set once, before any goroutine starts, from the kernel
// command line parameter vmtest.trace; then trace logs boot phases with the
// guest's uptime.
var tracing bool

func traceRequested() bool {
	b, _ := os.ReadFile("/proc/cmdline")
	for _, f := range strings.Fields(string(b)) {
		if f == "vmtest.trace" {
			return true
		}
	}
	return false
}

func trace(phase string) {
	if !tracing {
		return
	}
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	logf("trace %5dms %s", ts.Nano()/1e6, phase)
}

// logf writes one line to the console (the kernel's /dev/console, which the
// host logs).
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "vmtest: "+format+"\n", args...)
}

// fatal reports err on the console and powers off: PID 1 must not exit,
// which would panic the kernel with a less helpful message.
func fatal(err error) {
	logf("fatal: %v", err)
	powerDown(false)
}

// earlyMounts mounts the kernel's file systems, which the root switch
// later moves, with what is below them, into the machine's root.
func earlyMounts() error {
	for _, m := range []struct {
		src, dst, fstype string
		flags            uintptr
		opts             string
	}{
		{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, ""},
		{"proc", "/proc", "proc", unix.MS_NOSUID, ""},
		{"sysfs", "/sys", "sysfs", unix.MS_NOSUID, ""},
		// Not nodev: its files are the terminals (m.shell()).
		{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666"},
		{"tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
	} {
		os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.fstype, m.flags, m.opts); err != nil && err != unix.EBUSY {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.dst, err)
		}
	}
	// The kernel opened no console when /dev was empty: attach it now.
	if c, err := os.OpenFile("/dev/console", os.O_RDWR, 0); err == nil {
		for fd := 0; fd <= 2; fd++ {
			unix.Dup2(int(c.Fd()), fd)
		}
	}
	return nil
}

// freeInitramfs removes what the initramfs held once every module the
// machine needs is loaded: the module files and lists, and /init (whose
// pages stay while the agent runs from them). Only files the agent itself
// put there, never anything below a mount point. It runs before hello, so
// a revived machine does not spend its time on it.
func freeInitramfs() {
	os.Remove("/init")
	if lists, err := filepath.Glob("/modules.*"); err == nil {
		for _, l := range lists {
			os.Remove(l)
		}
	}
	os.RemoveAll("/lib")
}

// loadModules loads the kernel modules listed (one path per line, in
// dependency order) in the file at list. A module already loaded or built
// in is not an error.
func loadModules(list string) error {
	f, err := os.Open(list)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.TrimSpace(sc.Text())
		if p == "" {
			continue
		}
		if err := loadModule(p); err != nil {
			return err
		}
	}
	return sc.Err()
}

func loadModule(path string) error {
	if loaded(path) {
		return nil
	}
	m, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("module %s: %w", path, err)
	}
	defer m.Close()
	flags := 0
	if strings.HasSuffix(path, ".xz") || strings.HasSuffix(path, ".zst") || strings.HasSuffix(path, ".gz") {
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	switch err := unix.FinitModule(int(m.Fd()), "", flags); err {
	case nil, unix.EEXIST:
	case unix.ENODEV:
		// A driver for hardware this machine lacks (crc32c-intel on a CPU
		// without SSE4.2): its generic fallback is in the list too.
		logf("module %s: no device for it, skipped", filepath.Base(path))
	default:
		return fmt.Errorf("loading module %s: %w", filepath.Base(path), err)
	}
	return nil
}

// loaded reports whether the module in the file at path is loaded (or
// built in), by its name in /sys/module: loading it again would make the
// kernel copy and check the whole file before refusing it.
func loaded(path string) bool {
	name := filepath.Base(path)
	if i := strings.Index(name, ".ko"); i >= 0 {
		name = name[:i]
	}
	_, err := os.Stat("/sys/module/" + strings.ReplaceAll(name, "-", "_"))
	return err == nil
}

// openPort finds the virtio-serial port called name and opens it, waiting
// up to limit for the device to appear (the driver probes asynchronously).
func openPort(name string, limit time.Duration) (*os.File, error) {
	deadline := time.Now().Add(limit)
	for {
		ports, _ := filepath.Glob("/sys/class/virtio-ports/*/name")
		for _, p := range ports {
			b, err := os.ReadFile(p)
			if err != nil || strings.TrimSpace(string(b)) != name {
				continue
			}
			dev := "/dev/" + filepath.Base(filepath.Dir(p))
			f, err := os.OpenFile(dev, os.O_RDWR, 0)
			if err == nil {
				return f, nil
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("opening agent port %s: %w", dev, err)
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no virtio-serial port named %s appeared within %s (is virtio_console loaded? ports: %v)", name, limit, ports)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
