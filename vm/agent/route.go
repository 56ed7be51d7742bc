//go:build linux

package agent

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/vm/wire"
)

// addDefaultRoute makes gw, reached through the link with index idx, the
// IPv4 default gateway (RTM_NEWROUTE in the main table), replacing any
// default route there.
func (nl *netlink) addDefaultRoute(idx int32, gw string) error {
	a, err := netip.ParseAddr(gw)
	if err != nil || !a.Is4() {
		return fmt.Errorf("gateway %q: want an IPv4 address", gw)
	}
	return nl.addRoute(netip.PrefixFrom(netip.IPv4Unspecified(), 0), a, idx)
}

// addRoute adds the route to the network to through the gateway via
// (RTM_NEWROUTE in the main table), replacing one to the same network.
// Without an interface (idx 0) the kernel picks the one that reaches via.
func (nl *netlink) addRoute(to netip.Prefix, via netip.Addr, idx int32) error {
	family := byte(unix.AF_INET)
	if via.Is6() {
		family = unix.AF_INET6
	}
	// struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope,
	// type, flags.
	b := make([]byte, unix.SizeofRtMsg)
	b[0] = family
	b[1] = byte(to.Bits())
	b[4] = unix.RT_TABLE_MAIN
	b[5] = unix.RTPROT_BOOT
	b[6] = unix.RT_SCOPE_UNIVERSE
	b[7] = unix.RTN_UNICAST
	if to.Bits() > 0 {
		b = appendAttr(b, unix.RTA_DST, to.Masked().Addr().AsSlice())
	}
	b = appendAttr(b, unix.RTA_GATEWAY, via.AsSlice())
	if idx != 0 {
		b = appendAttr(b, unix.RTA_OIF, binary.NativeEndian.AppendUint32(nil, uint32(idx)))
	}
	return nl.request(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, b)
}

// addRoutes adds the machine's routes, in order, once its interfaces are
// up. The error names the route.
func addRoutes(routes []wire.Route) error {
	if len(routes) == 0 {
		return nil
	}
	nl, err := dialNetlink()
	if err != nil {
		return fmt.Errorf("adding routes: %w", err)
	}
	defer nl.close()
	for _, r := range routes {
		to, err := netip.ParsePrefix(r.To)
		via, verr := netip.ParseAddr(r.Via)
		if err != nil || verr != nil || to.Addr().Is4() != via.Is4() {
			return fmt.Errorf("route to %s via %s: want a network and a gateway of one family", r.To, r.Via)
		}
		if err := nl.addRoute(to, via, 0); err != nil {
			return fmt.Errorf("route to %s via %s: %w", r.To, r.Via, err)
		}
	}
	return nil
}
