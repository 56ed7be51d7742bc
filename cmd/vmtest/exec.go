package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/runtime"
	"github.com/vmtest/vmtest/vm"
	"github.com/vmtest/vmtest/vm/cache"
	"github.com/vmtest/vmtest/vm/disk"
	"github.com/vmtest/vmtest/vm/guest"
	"github.com/vmtest/vmtest/vm/hide"
)

// bootFlags are the flags of every verb that boots machines.
type bootFlags struct {
	kernel     string
	accel      string
	verbose    bool
	noSnapshot bool
}

func (b *bootFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&b.kernel, "kernel", "", "kernel bzImage to boot (default $VMTEST_KERNEL, else the newest /boot/vmlinuz-* with modules)")
	b.accel = "auto"
	fs.Var(choiceFlag{&b.accel, []string{"auto", "kvm", "tcg"}}, "accel", "accelerator `ACCEL`: kvm, tcg or auto (probe KVM, fall back to TCG)")
	fs.BoolVar(&b.verbose, "v", false, "show the machines' consoles live")
	fs.BoolVar(&b.noSnapshot, "no-snapshot", false, "boot every machine cold instead of reviving it from the boot snapshot of its shape")
}

func (b *bootFlags) options() vm.Options {
	return vm.Options{Kernel: b.kernel, Accel: b.accel, NoSnapshot: b.noSnapshot}
}

// interruptible returns a context cancelled by SIGINT or SIGTERM.
func interruptible() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func cmdExec(args []string) int {
	fs := newFlags("exec")
	var bf bootFlags
	bf.register(fs)
	memory, cpus := runtime.DefaultMemory, runtime.DefaultCPUs
	fs.Var(intFlag{&memory, runtime.MinMemory, maxInt, "1024"}, "memory", "guest memory in `MiB`")
	fs.Var(intFlag{&cpus, 1, runtime.MaxCPUs, "2"}, "cpus", "`N` guest CPUs")
	var timeout time.Duration
	fs.Var(durationFlag{&timeout}, "timeout", "kill the command after `DURATION` (e.g. 30s); exit status 124")
	keep := fs.Bool("keep-state", false, "keep the machine's disk as ./NAME.qcow2 and reuse it next time")
	name := fs.String("name", "vm", "the machine's host name (and its disk's name with --keep-state)")
	argv, code, ok := parseFlags(fs, args, false)
	if !ok {
		return code
	}
	if len(argv) == 0 {
		fmt.Fprintf(os.Stderr, "vmtest exec: no command given; try: vmtest exec -- uname -a\n%s", verbUsage("exec"))
		return exitUsage
	}
	if err := runtime.CheckMemory(memory); err != nil {
		fmt.Fprintf(os.Stderr, "vmtest exec: --memory %d: %v\n", memory, err)
		return exitUsage
	}
	if err := vm.CheckHostname(*name); err != nil {
		fmt.Fprintf(os.Stderr, "vmtest exec: --name %s: %v\n", quoteArg(*name), err)
		return exitUsage
	}

	ctx, stop := interruptible()
	defer stop()
	code, err := execOnce(ctx, bf, execConfig{name: *name, memory: memory, cpus: cpus, keep: *keep, timeout: timeout, argv: argv})
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "vmtest exec: interrupted; machine stopped")
			return exitInterrupted
		}
		fmt.Fprintf(os.Stderr, "vmtest exec: %v\n", err)
	}
	return code
}

type execConfig struct {
	name         string
	memory, cpus int
	keep         bool
	timeout      time.Duration
	argv         []string
}

// execOnce boots the machine, runs the command and stops the machine. It
// returns the exit status vmtest should end with.
func execOnce(ctx context.Context, bf bootFlags, c execConfig) (int, error) {
	art, err := vm.Prepare(ctx, bf.options())
	if err != nil {
		return exitVMFailure, err
	}
	rd, err := vm.NewRunDir()
	if err != nil {
		return exitVMFailure, err
	}
	defer rd.Remove()
	dir, err := rd.Machine(0)
	if err != nil {
		return exitVMFailure, err
	}
	// A throwaway machine keeps its writes in memory: no disk to make, no
	// ext4 to load. --keep-state gives it a disk that outlives the run.
	var img disk.Image
	if c.keep {
		if img, err = disk.Keep(ctx, c.name+".qcow2", dir, disk.DefaultSize); err != nil {
			return exitVMFailure, err
		}
	}
	logFile, err := os.Create(filepath.Join(dir, "console.log"))
	if err != nil {
		return exitVMFailure, err
	}
	defer logFile.Close()
	var consoleOut io.Writer = logFile
	if bf.verbose {
		consoleOut = io.MultiWriter(logFile, newPrefixWriter(os.Stderr, c.name+" | "))
	}
	cacheDir, err := cache.Dir()
	if err != nil {
		return exitVMFailure, err
	}
	hidden, files, err := hide.ForMachine("/", nil, nil, cacheDir)
	if err != nil {
		return exitVMFailure, err
	}
	m, err := vm.Start(ctx, art, vm.Config{
		Name: c.name, Memory: c.memory, CPUs: c.cpus, Disk: img, Dir: dir, Console: consoleOut,
		Hide: hidden, Files: files,
	})
	if err != nil {
		return exitVMFailure, err
	}
	defer m.Close()

	cmd := guest.Command{Argv: c.argv, Stdout: os.Stdout, Stderr: os.Stderr}
	if st, err := os.Stdin.Stat(); err == nil && st.Mode()&os.ModeCharDevice == 0 {
		cmd.Stdin = os.Stdin // a pipe or file: forward it; a terminal is not read
	}
	callCtx, cancel := context.WithCancel(ctx)
	if c.timeout > 0 {
		callCtx, cancel = context.WithTimeout(ctx, c.timeout)
	}
	res, err := m.Exec(callCtx, cmd)
	cancel()
	var ge *guest.Error
	switch {
	case errors.Is(err, guest.ErrTimeout) && ctx.Err() == nil:
		err = fmt.Errorf("%s timed out after %s and was killed", c.argv[0], c.timeout)
		res.Exit = exitTimeout
	case errors.As(err, &ge) && errors.Is(err, guest.ErrFailed):
		res.Exit = exitCannotExec
		if strings.Contains(ge.Guest, "not found") || strings.Contains(ge.Guest, "no such file") {
			res.Exit = exitNotFound
		}
		err = errors.New(ge.Guest)
	case err != nil:
		return exitVMFailure, err
	}
	if c.keep {
		// A clean power off syncs the disk that is kept.
		if err := m.Shutdown(ctx); err != nil {
			return exitVMFailure, err
		}
	}
	return res.Exit, err
}

// suggestMachine is suggest for a machine name, or else the list of
// machines: " (machines: a, b)".
func suggestMachine(name string, machines []string) string {
	if s := suggest(name, machines); s != "" {
		return s
	}
	return " (machines: " + strings.Join(machines, ", ") + ")"
}

func suggest(name string, candidates []string) string {
	if s := lang.Suggest(name, candidates); s != "" {
		return fmt.Sprintf(" (did you mean %s?)", s)
	}
	return ""
}
