package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/vmtest/vmtest/runtime/ocr"
	"github.com/vmtest/vmtest/vm"
	"github.com/vmtest/vmtest/vm/accel"
	"github.com/vmtest/vmtest/vm/cache"
	"github.com/vmtest/vmtest/vm/disk"
	"github.com/vmtest/vmtest/vm/hide"
	"github.com/vmtest/vmtest/vm/initramfs"
	"github.com/vmtest/vmtest/vm/kernel"
)

// cmdDoctor reports what vmtest needs on this host, one line each, and
// ends with the command that installs whatever is missing.
func cmdDoctor(args []string) int {
	fs := newFlags("doctor")
	var bf bootFlags
	bf.register(fs)
	pos, code, ok := parseFlags(fs, args, false)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintf(os.Stderr, "vmtest doctor: takes no arguments, got %s\n%s", quoteArg(pos[0]), verbUsage("doctor"))
		return exitUsage
	}
	ctx, stop := interruptible()
	defer stop()

	var missing []string // Debian packages to install
	problems := 0
	report := func(what, value string, err error) {
		if err != nil {
			problems++
			fmt.Printf("%-12s MISSING  %v\n", what, err)
			return
		}
		fmt.Printf("%-12s ok       %s\n", what, value)
	}

	qemu, err := vm.FindQEMU("")
	if err == nil {
		out, verr := exec.Command(qemu, "--version").Output()
		first, _, _ := strings.Cut(string(out), "\n")
		report("qemu", qemu+": "+first, verr)
	} else {
		report("qemu", "", err)
		missing = append(missing, "qemu-system-x86")
	}
	if _, err := os.Stat(vm.DefaultFirmware); err == nil {
		report("firmware", vm.DefaultFirmware+" (qboot)", nil)
	} else {
		fmt.Printf("%-12s note     %s absent: booting with SeaBIOS, slower (apt-get install qemu-system-data)\n", "firmware", vm.DefaultFirmware)
	}

	dir, err := cache.Dir()
	report("cache", dir, err)
	if dir != "" {
		c, err := vm.ReadSnapshotCache(vm.SnapshotDir(dir))
		report("snapshots", describeSnapshots(c), err)
	}

	k, err := kernel.Find(bf.kernel)
	if err != nil {
		report("kernel", "", err)
		missing = append(missing, "linux-image-amd64")
	} else {
		report("kernel", fmt.Sprintf("%s (release %s)", k.Path, k.Release), nil)
		report("modules", k.ModulesDir, nil)
		if _, err := initramfs.Resolve(k.ModulesDir, initramfs.DefaultModules()); err != nil {
			report("guest mods", "", err)
		} else {
			report("guest mods", strings.Join(initramfs.DefaultModules(), " "), nil)
		}
		// Only machines with display = True need these.
		if _, err := initramfs.Resolve(k.ModulesDir, initramfs.DisplayModules()); err != nil {
			fmt.Printf("%-12s note     machines with a display cannot boot: %v\n", "display", err)
		} else {
			report("display", strings.Join(initramfs.DisplayModules(), " ")+" (for display = True)", nil)
		}
		if dir != "" {
			p, err := kernel.VMLinux(k, dir)
			report("vmlinux", p+" (PVH)", err)
		}
	}
	for _, t := range []struct{ name, pkg string }{{"mke2fs", "e2fsprogs"}, {"qemu-img", "qemu-utils"}} {
		p, err := disk.Tool(t.name, t.pkg)
		if err != nil {
			report(t.name, "", err)
			missing = append(missing, t.pkg)
		} else {
			report(t.name, p, nil)
		}
	}
	// Only reading screens (get_screen_text, wait_for_text) needs it.
	if p, err := exec.LookPath("tesseract"); err != nil {
		fmt.Printf("%-12s note     not found: machines' screens cannot be read by OCR (%s)\n", "tesseract", ocr.InstallHint)
	} else {
		report("tesseract", p+" (for get_screen_text, wait_for_text)", nil)
	}
	if qemu != "" && dir != "" {
		v, err := accel.Prober{QEMU: qemu, CacheDir: dir, Timeout: vm.ProbeTimeout}.Choose(ctx, bf.accel)
		cached := ""
		if v.Cached {
			cached = ", cached verdict"
		}
		report("accel", fmt.Sprintf("%s: %s%s", v.Accel, v.Reason, cached), err)
	}
	// Where the host's credentials are hidden from guests (SPEC.md, Trust
	// model): a note either way, nothing to install.
	if self, err := os.Executable(); err == nil {
		if err := hide.Probe(self); err != nil {
			fmt.Printf("%-12s note     in the guests only (%v): a guest root can still read what you can\n", "hidden", err)
		} else {
			fmt.Printf("%-12s ok       on the host too: each QEMU exports a view of / without them\n", "hidden")
		}
	}
	if len(missing) > 0 {
		fmt.Printf("\nto install what is missing, run:\n  sudo apt-get install -y %s\n", strings.Join(missing, " "))
	}
	if problems > 0 {
		return exitFailure
	}
	return 0
}

// describeSnapshots says how many boot snapshots the cache holds, their
// size and when one was last used.
func describeSnapshots(c vm.SnapshotCache) string {
	if c.Count == 0 {
		return fmt.Sprintf("none yet in %s (the first machine of each shape saves one)", c.Dir)
	}
	s := "s"
	if c.Count == 1 {
		s = ""
	}
	return fmt.Sprintf("%d boot snapshot%s, %.0f MiB in %s, last used %s ago",
		c.Count, s, float64(c.Bytes)/(1<<20), c.Dir, time.Since(c.LastUsed).Round(time.Second))
}
