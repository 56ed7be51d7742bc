package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vmtest/vmtest/runtime/vswitch"
	"github.com/vmtest/vmtest/vm"
	"github.com/vmtest/vmtest/vm/disk"
	vmguest "github.com/vmtest/vmtest/vm/guest"
)

// iperfSeconds is how long each iperf3 measurement runs.
const iperfSeconds = 5

// iperfRounds is how many times each path is measured, alternating.
const iperfRounds = 3

// startVDESwitch runs a vde_switch in dir/vde until the benchmark ends.
func startVDESwitch(b *testing.B, dir string) string {
	b.Helper()
	sock := filepath.Join(dir, "vde")
	cmd := exec.Command("vde_switch", "-s", sock)
	stdin, err := cmd.StdinPipe() // it stops at the end of its input
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("vde_switch (Debian package vde2): %v", err)
	}
	b.Cleanup(func() {
		stdin.Close()
		time.AfterFunc(5*time.Second, func() { cmd.Process.Kill() })
		cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(sock, "ctl")); err == nil {
			return sock
		}
		if time.Now().After(deadline) {
			b.Fatal("vde_switch made no control socket")
		}
	}
}

// guest is a machine of the benchmark, with a NIC on each switch.
type guest struct {
	m      *vm.Machine
	ours   string // its address on vmtest's switch
	theirs string // its address on the vde_switch
	vdeMAC string
	ourMAC string
}

func (g *guest) run(b *testing.B, shell string) string {
	b.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := g.m.Exec(ctx, vmguest.Command{Shell: shell, Stdout: &out, Stderr: &errb})
	if err != nil || st.Exit != 0 {
		b.Fatalf("%s: %s: %v %+v\n%s%s", g.m.Name(), shell, err, st, out.String(), errb.String())
	}
	return out.String()
}

// bootGuest boots machine n (1 or 2) with eth0 on vmtest's switch and
// eth1 on the vde_switch, both plain virtio-net NICs of QEMU.
func bootGuest(b *testing.B, art *vm.Artifacts, rd *vm.RunDir, sw *vswitch.Switch, vde string, n int) *guest {
	b.Helper()
	name := fmt.Sprintf("g%d", n)
	sock, err := sw.Attach(1, name)
	if err != nil {
		b.Fatal(err)
	}
	dir, err := rd.Machine(n)
	if err != nil {
		b.Fatal(err)
	}
	img, err := disk.Create(context.Background(), filepath.Join(dir, "disk.img"), disk.DefaultSize)
	if err != nil {
		b.Fatal(err)
	}
	g := &guest{
		ours: fmt.Sprintf("192.168.1.%d", n), theirs: fmt.Sprintf("10.9.0.%d", n),
		ourMAC: fmt.Sprintf("52:54:00:12:01:%02x", n), vdeMAC: fmt.Sprintf("52:54:00:aa:00:%02x", n),
	}
	g.m, err = vm.Start(context.Background(), art, vm.Config{
		Name: name, Disk: img, Dir: dir,
		NICs: []vm.NIC{{MAC: g.ourMAC, Socket: sock, Addrs: []string{g.ours + "/24"}}},
		QEMUOpts: []string{
			"-netdev", "vde,id=vde0,sock=" + vde,
			"-device", "virtio-net-pci,netdev=vde0,mac=" + g.vdeMAC + ",romfile=",
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.m.Close() })
	g.run(b, fmt.Sprintf("dev=$(grep -il %s /sys/class/net/*/address | cut -d/ -f5); ip addr add %s/24 dev $dev && ip link set $dev up", g.vdeMAC, g.theirs))
	return g
}

// iperf runs iperf3 from client to the server address to and returns the
// throughput the receiver saw, in bits per second.
func iperf(b *testing.B, client *guest, to string) float64 {
	b.Helper()
	out := client.run(b, fmt.Sprintf("iperf3 -J -c %s -t %d", to, iperfSeconds))
	var r struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || r.End.SumReceived.BitsPerSecond == 0 {
		b.Fatalf("iperf3 to %s: %v\n%s", to, err, out)
	}
	return r.End.SumReceived.BitsPerSecond
}

func medianF(v []float64) float64 {
	d := make([]time.Duration, len(v))
	for i, x := range v {
		d[i] = time.Duration(x)
	}
	return float64(median(d))
}

// BenchmarkGuestTCP compares guest-to-guest TCP throughput (iperf3, one
// stream, 5 s) through vmtest's switch with the same through vde_switch:
// the same two guests, each with a NIC on either switch, measured in
// turns. Target: ratio >= 1.
func BenchmarkGuestTCP(b *testing.B) {
	_, art := setup(b)
	if _, err := exec.LookPath("iperf3"); err != nil {
		b.Fatal("iperf3 is not installed (Debian package iperf3): guests run the host's")
	}
	dir := b.TempDir()
	vde := startVDESwitch(b, dir)
	rd, err := vm.NewRunDir()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rd.Remove() })
	sw := vswitch.New(rd.Path)
	b.Cleanup(func() { sw.Close() })
	g1 := bootGuest(b, art, rd, sw, vde, 1)
	g2 := bootGuest(b, art, rd, sw, vde, 2)
	g2.run(b, "iperf3 -s -D")
	listen, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := g2.m.WaitPort(listen, 5201, false); err != nil {
		b.Fatalf("iperf3 -s did not listen: %v", err)
	}
	for i := 0; i < b.N; i++ {
		var ours, theirs []float64
		iperf(b, g1, g2.ours) // warm up both paths
		iperf(b, g1, g2.theirs)
		for r := 0; r < iperfRounds; r++ {
			ours = append(ours, iperf(b, g1, g2.ours))
			theirs = append(theirs, iperf(b, g1, g2.theirs))
		}
		o, t := medianF(ours), medianF(theirs)
		b.ReportMetric(o/1e6, "vmtest-Mbit/s")
		b.ReportMetric(t/1e6, "vde-Mbit/s")
		b.ReportMetric(o/t, "ratio")
		fmt.Printf("guest-tcp: iperf3 guest to guest through vmtest's switch %.0f Mbit/s, through vde_switch %.0f Mbit/s, ratio %.2f (median of %d runs of %d s each, alternating; accel %s)\n",
			o/1e6, t/1e6, o/t, iperfRounds, iperfSeconds, art.Accel.Accel)
		fmt.Printf("guest-tcp: vmtest %v, vde %v\n", mbits(ours), mbits(theirs))
	}
}

func mbits(v []float64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x / 1e6)
	}
	return out
}
