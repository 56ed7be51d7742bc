// Package bench measures vmtest against references run in the same
// process, and reports ratios. Run with ./make.sh bench; README.md shows
// the latest figures. Nothing here asserts a time.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vmtest/vmtest/internal/vmtestbin"
	"github.com/vmtest/vmtest/vm"
	"github.com/vmtest/vmtest/vm/disk"
	vmguest "github.com/vmtest/vmtest/vm/guest"
	"github.com/vmtest/vmtest/vm/initramfs"
	"github.com/vmtest/vmtest/vm/kernel"
)

// rounds is how many times each side of a comparison runs; medians are
// reported.
const rounds = 7

// setup builds the vmtest binary and prepares the boot artifacts, warming
// every cache, so no benchmark pays for a first build.
func setup(b *testing.B) (bin string, art *vm.Artifacts) {
	b.Helper()
	dir := b.TempDir()
	bin, err := vmtestbin.Build(dir)
	if err != nil {
		b.Fatal(err)
	}
	art, err = vm.Prepare(context.Background(), vm.Options{Agent: bin})
	if err != nil {
		b.Fatal(err)
	}
	return bin, art
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// floorInitramfs builds the reference guest: busybox as /init, loading just
// the modules 9p needs, mounting the host root over 9p the way the agent
// does, printing one line and powering off.
func floorInitramfs(b *testing.B, dir string) string {
	b.Helper()
	k, err := kernel.Find("")
	if err != nil {
		b.Fatal(err)
	}
	mods, err := initramfs.Resolve(k.ModulesDir, []string{"virtio_pci", "9pnet_virtio", "9p"})
	if err != nil {
		b.Fatal(err)
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		b.Fatalf("the reference guest needs busybox-static: %v", err)
	}
	script := "#!/bin/busybox sh\n"
	for _, m := range mods {
		script += "/bin/busybox insmod /lib/modules/" + filepath.Base(m) + "\n"
	}
	script += "/bin/busybox mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose root /mnt\n" +
		"/bin/busybox test -f /mnt/etc/debian_version && /bin/busybox echo VMTEST-FLOOR-READY\n" +
		"/bin/busybox poweroff -f\n"
	p := filepath.Join(dir, "floor.cpio")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := initramfs.NewWriter(f)
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(w.WriteFile("bin/busybox", 0o755, bb))
	must(w.WriteFile("init", 0o755, []byte(script)))
	must(w.WriteDir("mnt", 0o755))
	must(w.WriteCharDevice("dev/console", 0o600, 5, 1))
	for _, m := range mods {
		data, err := os.ReadFile(filepath.Join(k.ModulesDir, m))
		must(err)
		must(w.WriteFile("lib/modules/"+filepath.Base(m), 0o644, data))
	}
	must(w.Close())
	return p
}

// bootFloor boots the reference guest, on the same QEMU, firmware, PVH
// kernel and accelerator as vmtest's machines, and returns the time from
// starting QEMU to the guest's line saying the 9p root is mounted.
func bootFloor(b *testing.B, art *vm.Artifacts, initrd string) time.Duration {
	b.Helper()
	args := []string{"-M", "q35", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-m", "512"}
	args = append(args, art.AccelArgs...)
	if art.Firmware != "" {
		args = append(args, "-bios", art.Firmware)
	}
	args = append(args, "-kernel", art.Kernel, "-initrd", initrd,
		// A bare command line, as one would boot by hand: vmtest's own
		// tuning (vm.BaseKernelParams) is part of what is measured.
		"-append", "console=ttyS0 quiet panic=-1",
		"-serial", "stdio",
		"-fsdev", "local,id=root,path=/,security_model=none,readonly=on,multidevs=remap",
		"-device", "virtio-9p-pci,fsdev=root,mount_tag=root")
	cmd := exec.Command(art.QEMU, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	sc := bufio.NewScanner(out)
	var seen []string
	for sc.Scan() {
		if strings.Contains(sc.Text(), "VMTEST-FLOOR-READY") {
			return time.Since(start)
		}
		seen = append(seen, sc.Text())
	}
	b.Fatalf("the reference guest never mounted its root; it printed:\n%s", strings.Join(seen, "\n"))
	return 0
}

// execTrue runs `vmtest exec FLAGS -- true` and returns its wall time.
func execTrue(b *testing.B, bin string, flags ...string) time.Duration {
	b.Helper()
	args := append(append([]string{"exec"}, flags...), "--", "true")
	start := time.Now()
	out, err := exec.Command(bin, args...).CombinedOutput()
	d := time.Since(start)
	if err != nil {
		b.Fatalf("vmtest %v: %v\n%s", args, err, out)
	}
	return d
}

// BenchmarkExecTrue compares `vmtest exec -- true` (whole command, caches
// warm, cold boot) with bare QEMU booting a busybox initramfs to a mounted
// 9p root on the same kernel, alternating the two. Target: ratio <= 1.
// The boot snapshot is off (--no-snapshot): this is the boot itself, which
// the first machine of every shape pays (see BenchmarkSnapshotExec).
func BenchmarkExecTrue(b *testing.B) {
	bin, art := setup(b)
	initrd := floorInitramfs(b, b.TempDir())
	for i := 0; i < b.N; i++ {
		var floor, ours []time.Duration
		bootFloor(b, art, initrd) // warm the host page cache for both
		execTrue(b, bin, "--no-snapshot")
		for r := 0; r < rounds; r++ {
			floor = append(floor, bootFloor(b, art, initrd))
			ours = append(ours, execTrue(b, bin, "--no-snapshot"))
		}
		f, o := median(floor), median(ours)
		b.ReportMetric(f.Seconds(), "floor-s")
		b.ReportMetric(o.Seconds(), "exec-true-s")
		b.ReportMetric(o.Seconds()/f.Seconds(), "ratio")
		fmt.Printf("exec-true: vmtest exec --no-snapshot -- true %.2fs, bare QEMU+busybox to 9p root %.2fs, ratio %.2f (median of %d, accel %s)\n",
			o.Seconds(), f.Seconds(), o.Seconds()/f.Seconds(), rounds, art.Accel.Accel)
	}
}

// BenchmarkRoundTrip compares one agent round trip (exec of /bin/true,
// result back on the host) with the guest's own cost of fork+exec of
// /bin/true from a shell loop. Target: ratio <= 1.5.
func BenchmarkRoundTrip(b *testing.B) {
	_, art := setup(b)
	rd, err := vm.NewRunDir()
	if err != nil {
		b.Fatal(err)
	}
	defer rd.Remove()
	dir, _ := rd.Machine(0)
	img, err := disk.Create(context.Background(), filepath.Join(dir, "disk.img"), disk.DefaultSize)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	m, err := vm.Start(ctx, art, vm.Config{Name: "bench", Disk: img, Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	run := func(c vmguest.Command) string {
		var out bytes.Buffer
		c.Stdout = &out
		st, err := m.Exec(ctx, c)
		if err != nil || st.Exit != 0 {
			b.Fatalf("%+v: %v %+v", c, err, st)
		}
		return out.String()
	}
	const calls, loops = 200, 500
	for i := 0; i < b.N; i++ {
		// Warm the guest's page cache for /bin/true and the shell.
		run(vmguest.Command{Argv: []string{"/bin/true"}})
		var rt []time.Duration
		for c := 0; c < calls; c++ {
			start := time.Now()
			run(vmguest.Command{Argv: []string{"/bin/true"}})
			rt = append(rt, time.Since(start))
		}
		script := fmt.Sprintf(`s=$(date +%%s%%N); i=0; while [ $i -lt %d ]; do /bin/true; i=$((i+1)); done; e=$(date +%%s%%N); echo $(( (e-s)/%d ))`, loops, loops)
		var guestNS int64
		fmt.Sscan(run(vmguest.Command{Shell: script}), &guestNS)
		inGuest := time.Duration(guestNS)
		r := median(rt)
		b.ReportMetric(float64(r.Microseconds()), "roundtrip-us")
		b.ReportMetric(float64(inGuest.Microseconds()), "guest-fork-exec-us")
		b.ReportMetric(r.Seconds()/inGuest.Seconds(), "ratio")
		fmt.Printf("round-trip: agent exec of /bin/true %s, guest's own fork+exec %s, ratio %.2f (median of %d calls; guest mean of %d)\n",
			r.Round(time.Microsecond), inGuest.Round(time.Microsecond), r.Seconds()/inGuest.Seconds(), calls, loops)
	}
}
