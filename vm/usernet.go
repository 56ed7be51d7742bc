package vm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/vmtest/vmtest/vm/wire"
)

// UserNet is a machine's QEMU user-mode network (slirp), its first NIC
// (eth0): the guest is 10.0.2.15/24 behind a NAT whose gateway is 10.0.2.2
// and DNS server 10.0.2.3. Restricted, the guest reaches nothing through
// it, and only the forwarded host ports reach the guest; unrestricted, it
// reaches the host's networks and the internet through the NAT.
type UserNet struct {
	MAC      string
	Restrict bool
	// Forwards are TCP ports of the host's loopback address forwarded to
	// the guest's.
	Forwards []Forward
}

// Forward forwards TCP connections to 127.0.0.1:Host on the host to port
// Guest of the guest.
type Forward struct{ Host, Guest int }

// The user network's fixed addresses (QEMU's defaults).
const (
	UserNetGuest   = "10.0.2.15/24"
	UserNetGateway = "10.0.2.2"
	UserNetDNS     = "10.0.2.3"
)

// userNetID is the QEMU netdev id of the user network.
const userNetID = "user"

// hostfwd is the rule of f in QEMU's hostfwd syntax. Forwards bind the
// host's loopback address only: nothing outside the host reaches a guest.
func (f Forward) hostfwd() string {
	return fmt.Sprintf("tcp:127.0.0.1:%d-:%d", f.Host, f.Guest)
}

// userNetArgs are the QEMU arguments of u with the port forwards fwds:
// the netdev and its NIC.
func userNetArgs(u *UserNet, fwds []Forward) []string {
	restrict := "on"
	if !u.Restrict {
		restrict = "off"
	}
	nd := "user,id=" + userNetID + ",restrict=" + restrict + ",ipv6=off"
	for _, f := range fwds {
		nd += ",hostfwd=" + f.hostfwd()
	}
	return []string{
		"-netdev", nd,
		"-device", "virtio-net-pci,netdev=" + userNetID + ",mac=" + u.MAC + ",romfile=",
	}
}

// userNetInterface is what the agent configures on the user network's NIC.
func userNetInterface(u *UserNet) wire.Interface {
	ifc := wire.Interface{MAC: u.MAC, Addrs: []string{UserNetGuest}}
	if !u.Restrict {
		ifc.Gateway = UserNetGateway
	}
	return ifc
}

// ErrPortInUse is wrapped by the errors of forwards to a host port that
// something already listens on.
var ErrPortInUse = errors.New("in use")

// CheckHostPort reports whether TCP port 127.0.0.1:port can be forwarded:
// an error naming the port if something listens there already.
func CheckHostPort(port int) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("host port %d is out of range 1..65535", port)
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("host port %d is %w: something on this host listens on 127.0.0.1:%d", port, ErrPortInUse, port)
		}
		return fmt.Errorf("host port %d cannot be forwarded: %w", port, err)
	}
	l.Close()
	return nil
}

// FreeHostPort returns a TCP port of the host's loopback address that
// nothing listens on now.
func FreeHostPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free host port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ForwardPort forwards TCP port host of the host's 127.0.0.1 to port guest
// of the running machine, now (through QEMU's monitor) and at every later
// boot. The machine must have a user network.
func (m *Machine) ForwardPort(ctx context.Context, host, guest int) error {
	if m.cfg.User == nil {
		return fmt.Errorf("machine %s has no user network to forward ports through", m.cfg.Name)
	}
	inst := m.state.running()
	if inst == nil {
		return m.notRunning()
	}
	if err := CheckHostPort(host); err != nil {
		return err
	}
	f := Forward{Host: host, Guest: guest}
	out, err := inst.qmp.HumanMonitorCommand(ctx, "hostfwd_add "+userNetID+" "+f.hostfwd())
	if err != nil {
		return fmt.Errorf("forwarding host port %d: %w", host, err)
	}
	if out = strings.TrimSpace(out); out != "" {
		return fmt.Errorf("forwarding host port %d to guest port %d: qemu says: %s", host, guest, out)
	}
	m.state.mu.Lock()
	m.state.forwards = append(m.state.forwards, f)
	m.state.mu.Unlock()
	return nil
}
