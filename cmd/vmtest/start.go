package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/repl/control"
	"github.com/vmtest/vmtest/runtime"
	"github.com/vmtest/vmtest/vm"
	"github.com/vmtest/vmtest/vm/disk"
)

// startFlags are the flags of vmtest start.
type startFlags struct {
	boot       bootFlags
	out        string
	libs       libFlag
	limits     limitFlags
	foreground bool
	display    bool
	only       string
	readyFD    int
}

// cmdStart is vmtest start: boot a file's network, machine disks kept as
// ./<name>.qcow2, and keep it running with a control socket in its run
// directory: in the background (the directory is printed when the
// machines are up), or with --foreground in this process.
func cmdStart(args []string) int {
	fs := newFlags("start")
	var sf startFlags
	sf.boot.register(fs)
	sf.limits.register(fs)
	fs.StringVar(&sf.out, "out", "vmtest-out", "write consoles and logs to `DIR`/<test>/")
	fs.Var(&sf.libs, "L", "look for load()ed libraries in `DIR` too (repeatable; then $VMTEST_PATH)")
	fs.BoolVar(&sf.foreground, "foreground", false, "run in this process: log here, and open the prompt if the terminal is one")
	registerDisplay(fs, &sf.display)
	fs.StringVar(&sf.only, "only", "", "boot only the machine `NAME` (vmtest build-vm); the others boot at first use")
	fs.Var(intFlag{&sf.readyFD, 0, maxInt, "3"}, "ready-fd", "internal: write the run directory to this file descriptor once up")
	files, code, ok := parseFlags(fs, args, true)
	if !ok {
		return code
	}
	if len(files) != 1 {
		fmt.Fprintf(os.Stderr, "vmtest start: want one test file, got %d; try: vmtest start examples/hello.star\n%s", len(files), verbUsage("start"))
		return exitUsage
	}
	if err := checkTestFile(files[0]); err != nil {
		fmt.Fprintf(os.Stderr, "vmtest start: %v\n", err)
		return exitUsage
	}
	if !sf.foreground {
		return daemonize(args)
	}
	return startForeground(files[0], sf)
}

// daemonize runs vmtest start --foreground in a new session, its output
// shown on standard error until it is up, then prints its run directory
// and returns, leaving it running.
func daemonize(args []string) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmtest start: %v\n", err)
		return exitFailure
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmtest start: %v\n", err)
		return exitFailure
	}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmtest start: %v\n", err)
		return exitFailure
	}
	cmd := exec.Command(self, append([]string{"start", "--foreground", "--ready-fd", "3"}, args...)...)
	cmd.Stdout, cmd.Stderr = outW, outW
	cmd.ExtraFiles = []*os.File{readyW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no terminal: Ctrl-C here does not reach it
	err = cmd.Start()
	outW.Close()
	readyW.Close()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmtest start: %v\n", err)
		return exitFailure
	}
	var copied sync.WaitGroup
	copied.Add(1)
	go func() {
		defer copied.Done()
		io.Copy(os.Stderr, outR) // until it redirects its output, or exits
	}()
	dir, _ := io.ReadAll(readyR)
	copied.Wait()
	if len(dir) == 0 {
		cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code > 0 {
			return code
		}
		return exitFailure
	}
	cmd.Process.Release()
	fmt.Println(strings.TrimSpace(string(dir)))
	return 0
}

// startForeground boots the network and serves its control socket until
// a vmtest stop, a signal, or (at a terminal) Ctrl-D at its prompt.
func startForeground(file string, sf startFlags) int {
	var ready *os.File
	if sf.readyFD > 0 {
		// The vmtest start that waits for us may be gone (Ctrl-C): writing
		// to its pipes must fail, not kill us with the machines up.
		signal.Ignore(syscall.SIGPIPE)
		syscall.CloseOnExec(sf.readyFD) // QEMU must not hold it open
		ready = os.NewFile(uintptr(sf.readyFD), "ready")
		defer ready.Close()
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmtest start: %v\n", err)
		return exitFailure
	}
	intr := newInterrupts()
	defer intr.stop()
	ctx := intr.ctx

	machines, _, err := declared(ctx, file, sf.libs, sf.limits.Limits, false, io.Discard)
	if err != nil {
		fmt.Fprint(os.Stderr, runtime.Report(err))
		return exitFailure
	}
	if len(machines) == 0 {
		fmt.Fprintf(os.Stderr, "vmtest start: %s declares no machine: there is nothing to start\n", file)
		return exitFailure
	}
	boot := machines
	if sf.only != "" {
		if !slices.Contains(machines, sf.only) {
			fmt.Fprintf(os.Stderr, "vmtest start: --only: %s declares no machine %q%s\n", file, sf.only, suggestMachine(sf.only, machines))
			return exitUsage
		}
		boot = []string{sf.only}
	}
	rd, err := vm.NewRunDir()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmtest start: %v\n", err)
		return exitFailure
	}
	defer rd.Remove()
	disks, release, err := keepDisks(ctx, boot, rd.Path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmtest start: %v\n", err)
		return exitFailure
	}
	defer release()

	s, err := openSession(ctx, sessionConfig{
		file: file, boot: sf.boot, libs: sf.libs, limits: sf.limits.Limits, outDir: filepath.Join(sf.out, testName(file)), term: os.Stdout,
		runDir: rd, disks: disks, qemuOpts: strings.Fields(os.Getenv("QEMU_OPTS")),
		showScreens: sf.display,
	})
	if err != nil {
		fmt.Fprint(os.Stderr, runtime.Report(err))
		return exitFailure
	}
	defer s.close()
	if sf.only != "" {
		err = s.net.Machine(sf.only).Start(ctx)
	} else {
		err = s.net.StartAll(ctx)
	}
	if err != nil {
		fmt.Fprint(os.Stderr, runtime.Report(err))
		if ctx.Err() != nil {
			return exitInterrupted
		}
		return exitFailure
	}

	stopNet := func() error {
		// A clean power off: the kept disks keep what was written.
		s.net.Log().Printf("shutting the machines down")
		err := shutdownAll(s.net)
		return errors.Join(err, s.close())
	}
	server, err := control.Listen(filepath.Join(rd.Path, control.SocketName), s.repl,
		control.Info{Test: testName(file), File: abs, Dir: rd.Path, Machines: machines}, stopNet)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmtest start: %v\n", err)
		return exitFailure
	}
	defer server.Close()
	s.net.Log().Printf("up; attach with: vmtest attach %s", rd.Path)
	s.net.Log().Printf("stop with: vmtest stop %s", rd.Path)
	if ready != nil {
		if err := detach(ready, rd.Path); err != nil {
			server.Stop()
			return exitFailure
		}
	}

	code := 0
	if ready == nil && isTerminal(os.Stdin) && isTerminal(os.Stdout) {
		// The prompt here ends at Ctrl-D, or when a vmtest stop stopped
		// the network under it.
		release := intr.hold()
		pctx, cancel := context.WithCancel(context.Background())
		stopped := context.AfterFunc(intr.ctx, cancel)
		var watch sync.WaitGroup
		watch.Add(1)
		go func() {
			defer watch.Done()
			select {
			case <-server.Stopped():
				cancel()
			case <-pctx.Done():
			}
		}()
		fmt.Printf("vmtest start: the prompt on %s; Ctrl-D stops the machines.\n", describeMachines(machines))
		code = prompt(pctx, s.repl, s.out)
		select {
		case <-server.Stopped():
			code = 0 // a vmtest stop, not a signal
		default:
		}
		cancel()
		watch.Wait()
		stopped()
		release()
	} else {
		select {
		case <-server.Stopped():
		case <-intr.ctx.Done():
			code = exitInterrupted
		}
	}
	if err := server.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "vmtest start: stopping: %v\n", err)
		return exitFailure
	}
	return code
}

// shutdownAll powers every running machine off cleanly, in parallel (a
// guest that does not power off within 30 s is killed).
func shutdownAll(net *runtime.Network) error {
	var wg sync.WaitGroup
	errs := make([]error, len(net.Machines()))
	for i, m := range net.Machines() {
		if !m.Running() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = m.Shutdown(context.Background())
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// keepDisks makes (or reuses) ./<name>.qcow2 for each machine and locks
// it; release unlocks them all.
func keepDisks(ctx context.Context, names []string, scratch string) (map[string]disk.Image, func(), error) {
	disks := map[string]disk.Image{}
	var releases []func() error
	release := func() {
		for _, r := range releases {
			r()
		}
	}
	for _, name := range names {
		path, err := filepath.Abs(name + ".qcow2")
		if err != nil {
			release()
			return nil, nil, err
		}
		img, err := disk.Keep(ctx, path, scratch, disk.DefaultSize)
		if err != nil {
			release()
			return nil, nil, err
		}
		r, err := disk.Lock(img.Path)
		if err != nil {
			release()
			var le *disk.LockedError
			if errors.As(err, &le) && le.PID != 0 {
				if dir := vm.RunDirOf(le.PID); dir != "" {
					return nil, nil, fmt.Errorf("%w, a network started from the same directory: stop it with vmtest stop %s, or start from another directory", err, dir)
				}
			}
			return nil, nil, err
		}
		releases = append(releases, r)
		disks[name] = img
	}
	return disks, release, nil
}

// detach tells the vmtest start that made this process that the network
// is up (its run directory on ready), and sends this process's own
// output to daemon.log in the run directory from now on.
func detach(ready *os.File, dir string) error {
	logFile, err := os.OpenFile(filepath.Join(dir, "daemon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmtest start: %v\n", err)
		return err
	}
	defer logFile.Close()
	if _, err := fmt.Fprintln(ready, dir); err != nil {
		return err
	}
	ready.Close()
	for _, fd := range []int{1, 2} {
		if err := unix.Dup3(int(logFile.Fd()), fd, 0); err != nil {
			return err
		}
	}
	signal.Ignore(syscall.SIGHUP)
	return nil
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
