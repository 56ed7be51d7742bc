//go:build linux

package agent

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// addDefaultRoute makes gw, reached through the link with index idx, the
// IPv4 default gateway (RTM_NEWROUTE in the main table), replacing any
// default route there.
func (nl *netlink) addDefaultRoute(idx int32, gw string) error {
	a, err := netip.ParseAddr(gw)
	if err != nil || !a.Is4() {
		return fmt.Errorf("gateway %q: want an IPv4 address", gw)
	}
	// struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope,
	// type, flags.
	b := make([]byte, unix.SizeofRtMsg)
	b[0] = unix.AF_INET
	b[4] = unix.RT_TABLE_MAIN
	b[5] = unix.RTPROT_BOOT
	b[6] = unix.RT_SCOPE_UNIVERSE
	b[7] = unix.RTN_UNICAST
	raw := a.As4()
	b = appendAttr(b, unix.RTA_GATEWAY, raw[:])
	b = appendAttr(b, unix.RTA_OIF, binary.NativeEndian.AppendUint32(nil, uint32(idx)))
	return nl.request(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, b)
}
