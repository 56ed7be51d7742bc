package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/vmtest/vmtest/vm"
)

// BenchmarkSnapshotExec compares `vmtest exec -- true` booting cold
// (--no-snapshot) with the same command reviving its machine from the boot
// snapshot of its shape, alternating the two, and the time vm.Start takes
// to a machine ready for commands, cold and revived. Target: a revived
// machine ready in at most 0.5 s.
func BenchmarkSnapshotExec(b *testing.B) {
	bin, art := setup(b)
	cold, err := vm.Prepare(context.Background(), vm.Options{Agent: bin, NoSnapshot: true})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		execTrue(b, bin) // saves the snapshot if the cache lacks it
		var coldExec, warmExec, coldReady, warmReady []time.Duration
		for r := 0; r < rounds; r++ {
			coldExec = append(coldExec, execTrue(b, bin, "--no-snapshot"))
			warmExec = append(warmExec, execTrue(b, bin))
			coldReady = append(coldReady, ready(b, cold))
			warmReady = append(warmReady, ready(b, art))
		}
		ce, we, cr, wr := median(coldExec), median(warmExec), median(coldReady), median(warmReady)
		b.ReportMetric(ce.Seconds(), "exec-cold-s")
		b.ReportMetric(we.Seconds(), "exec-revived-s")
		b.ReportMetric(cr.Seconds(), "ready-cold-s")
		b.ReportMetric(wr.Seconds(), "ready-revived-s")
		fmt.Printf("snapshot-exec: vmtest exec -- true %.2fs cold, %.2fs revived (ratio %.2f); machine ready %.2fs cold, %.2fs revived (ratio %.2f) (median of %d, accel %s)\n",
			ce.Seconds(), we.Seconds(), we.Seconds()/ce.Seconds(), cr.Seconds(), wr.Seconds(), wr.Seconds()/cr.Seconds(), rounds, art.Accel.Accel)
	}
}

// ready starts a machine shaped as vmtest exec makes it (no disk, no
// NIC) and returns how long vm.Start took.
func ready(b *testing.B, art *vm.Artifacts) time.Duration {
	b.Helper()
	rd, err := vm.NewRunDir()
	if err != nil {
		b.Fatal(err)
	}
	defer rd.Remove()
	dir, err := rd.Machine(0)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	m, err := vm.Start(context.Background(), art, vm.Config{Name: "bench", Dir: dir})
	d := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	m.Close()
	return d
}

// tenMachines is the network of BenchmarkSnapshotStartAll: ten machines
// on one vlan, each with its disk, booted at once.
const tenMachines = `
ms = machines("m", 10, memory = 256)
start_all()
log("all up")
`

// BenchmarkSnapshotStartAll compares `vmtest run` of a file whose
// start_all() boots ten machines, cold (--no-snapshot) and revived from
// the boot snapshot of their shape, alternating the two. It reports the
// time from the start of the file to the line after start_all(). Target:
// ten revived machines up in at most 3 s.
func BenchmarkSnapshotStartAll(b *testing.B) {
	const rounds = 3
	bin, _ := setup(b)
	dir := b.TempDir()
	file := filepath.Join(dir, "ten.star")
	if err := os.WriteFile(file, []byte(tenMachines), 0o644); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		runTen(b, bin, file) // saves the snapshot if the cache lacks it
		var cold, warm []time.Duration
		for r := 0; r < rounds; r++ {
			cold = append(cold, runTen(b, bin, file, "--no-snapshot"))
			warm = append(warm, runTen(b, bin, file))
		}
		c, w := median(cold), median(warm)
		b.ReportMetric(c.Seconds(), "cold-s")
		b.ReportMetric(w.Seconds(), "revived-s")
		b.ReportMetric(w.Seconds()/c.Seconds(), "ratio")
		fmt.Printf("snapshot-start-all: ten machines up %.1fs cold, %.1fs revived, ratio %.2f (median of %d)\n",
			c.Seconds(), w.Seconds(), w.Seconds()/c.Seconds(), rounds)
	}
}

var allUpRE = regexp.MustCompile(`(?m)^\s*([0-9.]+)s all up$`)

// runTen runs the ten-machine file and returns when, after its start, the
// file logged that all machines were up.
func runTen(b *testing.B, bin, file string, flags ...string) time.Duration {
	b.Helper()
	args := append([]string{"run", "--out", filepath.Join(filepath.Dir(file), "out")}, flags...)
	out, err := exec.Command(bin, append(args, file)...).CombinedOutput()
	if err != nil {
		b.Fatalf("vmtest %v: %v\n%s", args, err, out)
	}
	m := allUpRE.FindSubmatch(out)
	if m == nil {
		b.Fatalf("vmtest %v did not log 'all up':\n%s", args, out)
	}
	s, _ := strconv.ParseFloat(string(m[1]), 64)
	return time.Duration(s * float64(time.Second))
}
