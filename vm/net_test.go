package vm_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmtest/vmtest/runtime/vswitch"
	"github.com/vmtest/vmtest/vm"
	"github.com/vmtest/vmtest/vm/disk"
	"github.com/vmtest/vmtest/vm/guest"
	"github.com/vmtest/vmtest/vm/wire"
)

// The guests use the host's busybox (ping, nc): iputils-ping and a netcat
// need not be installed on the host.

// netHost is a machine of the network test: its vlan and host number n
// give its MAC and addresses, as the runtime assigns them.
type netHost struct {
	name    string
	vlan, n int
	// subnet is the vlan whose 192.168.x and 2001:db8:x addresses it
	// takes; a machine put on another vlan than its subnet's shows that
	// the switch, not addressing, keeps vlans apart.
	subnet int
}

func (h netHost) ip4() string { return fmt.Sprintf("192.168.%d.%d", h.subnet, h.n) }
func (h netHost) ip6() string { return fmt.Sprintf("2001:db8:%d::%d", h.subnet, h.n) }

// bootOnSwitch boots h with one NIC on sw and the given /etc/hosts.
func bootOnSwitch(t *testing.T, sw *vswitch.Switch, h netHost, hosts string) *vm.Machine {
	t.Helper()
	sock, err := sw.Attach(h.vlan, h.name)
	if err != nil {
		t.Fatal(err)
	}
	return boot(t, h.name, func(c *vm.Config) {
		c.NICs = []vm.NIC{{
			MAC:    fmt.Sprintf("52:54:00:12:%02x:%02x", h.vlan, h.n),
			Socket: sock,
			Addrs:  []string{h.ip4() + "/24", h.ip6() + "/64"},
		}}
		c.Files = []wire.File{{Path: "/etc/hosts", Mode: 0o644, Data: []byte(hosts)}}
	})
}

// run runs a shell command and returns its exit status and output
// (stdout and stderr together).
func run(t *testing.T, m *vm.Machine, cmd string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := m.Exec(ctx, guest.Command{Shell: cmd, Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatalf("%s on %s: %v", cmd, m.Name(), err)
	}
	return st.Exit, out.String()
}

var rttRE = regexp.MustCompile(`min/avg/max = [0-9.]+/([0-9.]+)/[0-9.]+ ms`)

func TestNetwork(t *testing.T) {
	rd, err := vm.NewRunDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Remove() })
	sw := vswitch.New(rd.Path)
	t.Cleanup(func() { sw.Close() }) // after the machines: cleanups run last-in first-out

	alpha := netHost{name: "alpha", vlan: 1, n: 1, subnet: 1}
	beta := netHost{name: "beta", vlan: 1, n: 2, subnet: 1}
	// gamma has an address in vlan 1's subnet but sits on vlan 2.
	gamma := netHost{name: "gamma", vlan: 2, n: 3, subnet: 1}
	var hosts strings.Builder
	hosts.WriteString("127.0.0.1 localhost\n::1 localhost\n")
	for _, h := range []netHost{alpha, beta, gamma} {
		fmt.Fprintf(&hosts, "%s %s\n%s %s\n", h.ip4(), h.name, h.ip6(), h.name)
	}
	a := bootOnSwitch(t, sw, alpha, hosts.String())
	b := bootOnSwitch(t, sw, beta, hosts.String())

	ping := func(from *vm.Machine, flag, to string) {
		t.Helper()
		if code, out := run(t, from, "busybox ping "+flag+" -c1 -W5 "+to); code != 0 {
			t.Fatalf("%s cannot ping %s (%s): exit %d\n%s", from.Name(), to, flag, code, out)
		}
	}
	t.Run("ping", func(t *testing.T) {
		ping(a, "-4", "beta")
		ping(a, "-6", "beta")
		ping(b, "-4", "alpha")
		ping(b, "-6", "alpha")
		// Measured, not asserted: timing is never a unit test's business.
		for _, f := range []string{"-4", "-6"} {
			_, out := run(t, a, "busybox ping "+f+" -q -c 20 -i 0.05 beta")
			if m := rttRE.FindStringSubmatch(out); m != nil {
				t.Logf("ping %s alpha → beta: average round trip %s ms", f, m[1])
			}
		}
	})

	t.Run("tcp", func(t *testing.T) {
		const size = 8 << 20
		recv := make(chan error, 1)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			var out bytes.Buffer
			st, err := b.Exec(ctx, guest.Command{Shell: "busybox nc -l -p 5000 > /tmp/recv", Stdout: &out, Stderr: &out})
			if err == nil && st.Exit != 0 {
				err = fmt.Errorf("%+v: %s", st, out.String())
			}
			recv <- err
		}()
		defer wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		portCtx, cancelPort := context.WithTimeout(ctx, 30*time.Second)
		defer cancelPort()
		if err := b.WaitPort(portCtx, 5000, false); err != nil {
			t.Fatalf("beta's listener: %v", err)
		}
		sum := sh(t, a, fmt.Sprintf("head -c %d /dev/urandom > /tmp/data && sha256sum < /tmp/data", size))
		// bash's /dev/tcp: cat closes the connection when the file is sent.
		out := sh(t, a, `exec bash -ec 's=$(date +%s%N); cat /tmp/data > /dev/tcp/beta/5000; e=$(date +%s%N); echo $(( (e - s) / 1000000 ))'`)
		if err := <-recv; err != nil {
			t.Fatalf("beta receiving: %v", err)
		}
		if got := sh(t, b, "sha256sum < /tmp/recv"); got != sum {
			t.Fatalf("beta received data with sha256 %q (size %s), alpha sent %q", got, sh(t, b, "stat -c %s /tmp/recv"), sum)
		}
		var ms int
		fmt.Sscan(out, &ms)
		if ms > 0 {
			t.Logf("TCP alpha → beta: %d MiB in %d ms, %.1f MiB/s", size>>20, ms, float64(size>>20)/(float64(ms)/1000))
		}
	})

	t.Run("vlans", func(t *testing.T) {
		g := bootOnSwitch(t, sw, gamma, hosts.String())
		if code, out := run(t, g, "busybox ping -c1 -W2 "+alpha.ip4()); code == 0 {
			t.Errorf("gamma on vlan 2 reached alpha on vlan 1:\n%s", out)
		}
		if code, out := run(t, a, "busybox ping -6 -c1 -W2 gamma"); code == 0 {
			t.Errorf("alpha on vlan 1 reached gamma on vlan 2:\n%s", out)
		}
	})

	t.Run("block", func(t *testing.T) {
		sw.Block("beta", true)
		if code, out := run(t, a, "busybox ping -c1 -W2 beta"); code == 0 {
			t.Errorf("alpha reached beta while beta is blocked:\n%s", out)
		}
		sw.Block("beta", false)
		ping(a, "-4", "beta")
	})

	t.Run("reboot", func(t *testing.T) {
		if err := b.Reboot(context.Background()); err != nil {
			t.Fatal(err)
		}
		ping(a, "-4", "beta")
		ping(a, "-6", "beta")
		ping(b, "-4", "alpha")
		for _, st := range sw.Stats() {
			if st.Name == "beta" && (st.Connects != 2 || !st.Connected) {
				t.Errorf("beta's port after a reboot: %+v, want a second connection", st)
			}
		}
	})
	for _, st := range sw.Stats() {
		t.Logf("port %+v", st)
	}
}

func TestNetworkErrorNamesInterface(t *testing.T) {
	rd, err := vm.NewRunDir()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Remove()
	sw := vswitch.New(rd.Path)
	defer sw.Close()
	sock, err := sw.Attach(1, "bad")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := rd.Machine(0)
	if err != nil {
		t.Fatal(err)
	}
	img, err := disk.Create(context.Background(), filepath.Join(dir, "disk.img"), disk.DefaultSize)
	if err != nil {
		t.Fatal(err)
	}
	_, err = vm.Start(context.Background(), art, vm.Config{
		Name: "bad", Disk: img, Dir: dir,
		NICs: []vm.NIC{{MAC: "52:54:00:12:01:09", Socket: sock, Addrs: []string{"192.168.1.9/24", "192.168.1.300/24"}}},
	})
	if err == nil || !strings.Contains(err.Error(), `interface eth0 (52:54:00:12:01:09): address "192.168.1.300/24"`) {
		t.Fatalf("got %v, want an error naming the interface and the address", err)
	}
}
