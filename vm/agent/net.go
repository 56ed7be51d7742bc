//go:build linux

package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/vm/wire"
)

// linkWait bounds the wait for a NIC to appear: virtio_net probes its
// devices while the module loads, so it is normally there at once.
const linkWait = 10 * time.Second

// bootNetwork is what prepareNetwork did before hello, for
// configureNetwork.
type bootNetwork struct {
	loUp bool // the loopback interface is up
	// nics are the virtio NICs found, in PCI address order, with their
	// indexes and duplicate address detection off.
	nics []nic
}

// prepareNetwork does, before hello, what is the same in every machine of
// a shape: it brings the loopback interface up, finds the virtio NICs
// (their names, PCI addresses and indexes) and turns off IPv6 duplicate
// address detection on them. A machine revived from a boot snapshot then
// only gives its NICs their MACs and addresses: under software emulation,
// every kernel path it runs afresh costs its QEMU the translation of that
// code. What it did is in bn, even when it fails.
func prepareNetwork() (bn *bootNetwork, err error) {
	bn = &bootNetwork{}
	nl, err := dialNetlink()
	if err != nil {
		return bn, fmt.Errorf("bringing up lo: %w", err)
	}
	defer nl.close()
	lo, err := ifindex("lo")
	if err != nil {
		return bn, fmt.Errorf("bringing up lo: %w", err)
	}
	if err := nl.linkUp(lo); err != nil {
		return bn, fmt.Errorf("bringing up lo: %w", err)
	}
	bn.loUp = true
	want := countPCIDevices(virtioVendor, virtioNetIDs)
	deadline := time.Now().Add(linkWait)
	nics := virtioNICs()
	for len(nics) < want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		nics = virtioNICs()
	}
	for i := range nics {
		if nics[i].index, err = ifindex(nics[i].name); err != nil {
			return bn, err
		}
		if err := noDAD(nics[i].name); err != nil {
			return bn, err
		}
	}
	bn.nics = nics
	return bn, nil
}

// noDAD turns off IPv6 duplicate address detection on the interface: its
// addresses, and the link-local one the kernel makes when the link comes
// up, are usable at once. Nothing else on a test network claims them.
func noDAD(name string) error {
	if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/accept_dad", []byte("0"), 0); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("interface %s: turning off duplicate address detection: %w", name, err)
	}
	return nil
}

// configureNetwork configures the virtio network interfaces ifs name (see
// match), which prepareNetwork found before hello. Each gets the MAC the
// host chose, then its addresses, then is brought up. It speaks
// rtnetlink itself: no ip(8), no process started. IPv6 addresses skip
// duplicate address detection, so they are usable as soon as this
// returns. The error names the interface and address that failed.
func configureNetwork(bn *bootNetwork, ifs []wire.Interface) error {
	if bn.loUp && len(ifs) == 0 {
		return nil
	}
	nl, err := dialNetlink()
	if err != nil {
		return fmt.Errorf("configuring the network: %w", err)
	}
	defer nl.close()
	if !bn.loUp {
		lo, err := ifindex("lo")
		if err != nil {
			return fmt.Errorf("configuring the network: %w", err)
		}
		if err := nl.linkUp(lo); err != nil {
			return fmt.Errorf("bringing up lo: %w", err)
		}
		bn.loUp = true
	}
	if len(ifs) == 0 {
		return nil
	}
	nics := bn.nics
	names, err := match(ifs, nics)
	if err != nil {
		// Not the NICs seen before hello: look again, waiting for them.
		if nics, err = waitNICs(ifs, linkWait); err != nil {
			return fmt.Errorf("configuring the network: %w", err)
		}
		if names, err = match(ifs, nics); err != nil {
			return fmt.Errorf("configuring the network: %w", err)
		}
	}
	for i, ifc := range ifs {
		n := nics[slices.IndexFunc(nics, func(n nic) bool { return n.name == names[i] })]
		name := n.name
		hw, err := net.ParseMAC(ifc.MAC)
		if err != nil {
			return fmt.Errorf("interface %s: MAC %q: %w", name, ifc.MAC, err)
		}
		idx := n.index
		if idx == 0 {
			if idx, err = ifindex(name); err != nil {
				return fmt.Errorf("interface %s (%s): %w", name, hw, err)
			}
			if err := noDAD(name); err != nil {
				return err
			}
		}
		// While the link is down, before it sends anything: the switch and
		// the other machines only ever see the MAC the host chose.
		if err := nl.setMAC(idx, hw); err != nil {
			return fmt.Errorf("interface %s: setting its MAC to %s: %w", name, hw, err)
		}
		for _, a := range ifc.Addrs {
			p, err := netip.ParsePrefix(a)
			if err != nil {
				return fmt.Errorf("interface %s (%s): address %q: want an address with its prefix length, such as 192.168.1.2/24 or 2001:db8:1::2/64", name, hw, a)
			}
			if err := nl.addAddr(idx, p); err != nil {
				return fmt.Errorf("interface %s (%s): adding address %s: %w", name, hw, p, err)
			}
		}
		if err := nl.linkUp(idx); err != nil {
			return fmt.Errorf("interface %s (%s): bringing it up: %w", name, hw, err)
		}
		if ifc.Gateway != "" {
			if err := nl.addDefaultRoute(idx, ifc.Gateway); err != nil {
				return fmt.Errorf("interface %s (%s): default route: %w", name, hw, err)
			}
		}
	}
	return nil
}

// ifindex returns the kernel's index of the interface called name.
func ifindex(name string) (int32, error) {
	b, err := os.ReadFile("/sys/class/net/" + name + "/ifindex")
	if err != nil {
		return 0, fmt.Errorf("reading the index of %s: %w", name, err)
	}
	i, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("index of %s: want a number, got %q", name, b)
	}
	return int32(i), nil
}

// netlink is an rtnetlink socket that sends one request at a time and
// waits for its acknowledgement. It is not safe for concurrent use.
type netlink struct {
	fd  int
	seq uint32
}

func dialNetlink() (*netlink, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening an rtnetlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("binding the rtnetlink socket: %w", err)
	}
	return &netlink{fd: fd}, nil
}

func (nl *netlink) close() { unix.Close(nl.fd) }

// linkUp sets IFF_UP on the link with index idx (RTM_NEWLINK).
func (nl *netlink) linkUp(idx int32) error {
	b := make([]byte, unix.SizeofIfInfomsg)
	// struct ifinfomsg: family, pad, type, index, flags, change.
	b[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(b[4:], uint32(idx))
	binary.NativeEndian.PutUint32(b[8:], unix.IFF_UP)
	binary.NativeEndian.PutUint32(b[12:], unix.IFF_UP)
	return nl.request(unix.RTM_NEWLINK, 0, b)
}

// setMAC gives the link with index idx the hardware address hw
// (RTM_NEWLINK with IFLA_ADDRESS). virtio_net passes it on to the device,
// whose receive filter then accepts frames for it.
func (nl *netlink) setMAC(idx int32, hw net.HardwareAddr) error {
	b := make([]byte, unix.SizeofIfInfomsg)
	b[0] = unix.AF_UNSPEC
	binary.NativeEndian.PutUint32(b[4:], uint32(idx))
	b = appendAttr(b, unix.IFLA_ADDRESS, hw)
	return nl.request(unix.RTM_NEWLINK, 0, b)
}

// addAddr gives the link with index idx the address p (RTM_NEWADDR),
// replacing it if it exists. An IPv6 address is marked IFA_F_NODAD: it is
// usable at once instead of after a second or two of duplicate address
// detection.
func (nl *netlink) addAddr(idx int32, p netip.Prefix) error {
	addr := p.Addr().Unmap()
	family, flags := byte(unix.AF_INET), uint32(0)
	if addr.Is6() {
		family, flags = unix.AF_INET6, unix.IFA_F_NODAD
	}
	// struct ifaddrmsg: family, prefixlen, flags, scope, index.
	b := make([]byte, unix.SizeofIfAddrmsg)
	b[0] = family
	b[1] = byte(p.Bits())
	b[2] = byte(flags)
	b[3] = unix.RT_SCOPE_UNIVERSE
	binary.NativeEndian.PutUint32(b[4:], uint32(idx))
	raw := addr.AsSlice()
	if family == unix.AF_INET {
		// IFA_LOCAL is the interface's own address; IFA_ADDRESS the peer's
		// on a point-to-point link, the same otherwise.
		b = appendAttr(b, unix.IFA_LOCAL, raw)
	}
	b = appendAttr(b, unix.IFA_ADDRESS, raw)
	if flags != 0 {
		b = appendAttr(b, unix.IFA_FLAGS, binary.NativeEndian.AppendUint32(nil, flags))
	}
	return nl.request(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, b)
}

// appendAttr appends one route attribute (struct rtattr and its data,
// padded to 4 bytes) to b.
func appendAttr(b []byte, typ uint16, data []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(unix.SizeofRtAttr+len(data)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// request sends one message of type typ with body and waits for the
// kernel's acknowledgement, returning the error it reports.
func (nl *netlink) request(typ, flags uint16, body []byte) error {
	nl.seq++
	msg := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body))
	binary.NativeEndian.PutUint32(msg[0:], uint32(unix.SizeofNlMsghdr+len(body)))
	binary.NativeEndian.PutUint16(msg[4:], typ)
	binary.NativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK|flags)
	binary.NativeEndian.PutUint32(msg[8:], nl.seq)
	msg = append(msg, body...)
	if err := unix.Sendto(nl.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sending to rtnetlink: %w", err)
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(nl.fd, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading from rtnetlink: %w", err)
		}
		for b := buf[:n]; len(b) >= unix.SizeofNlMsghdr; {
			l := int(binary.NativeEndian.Uint32(b[0:]))
			if l < unix.SizeofNlMsghdr || l > len(b) {
				return fmt.Errorf("reading from rtnetlink: a message of %d bytes in %d", l, len(b))
			}
			mtyp := binary.NativeEndian.Uint16(b[4:])
			seq := binary.NativeEndian.Uint32(b[8:])
			payload := b[unix.SizeofNlMsghdr:l]
			b = b[min((l+3)&^3, len(b)):]
			if seq != nl.seq || mtyp != unix.NLMSG_ERROR {
				continue // not the answer to this request
			}
			if len(payload) < 4 {
				return errors.New("reading from rtnetlink: a truncated acknowledgement")
			}
			if e := int32(binary.NativeEndian.Uint32(payload)); e != 0 {
				return unix.Errno(-e)
			}
			return nil
		}
	}
}
