package vswitch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The VDE 2 plug protocol (libvdeplug's vde_open, vde_switch's datasock
// module): the client binds a unix datagram socket, connects a stream to
// the switch's control socket <dir>/ctl and sends a request_v3 naming its
// datagram socket; the switch answers with the address of the datagram
// socket of the port it made. Frames then travel as datagrams, one frame
// each, between the two. The port lives as long as the control stream.
const (
	vdeMagic   = 0xfeedface
	vdeVersion = 3
	// vdeNewControl is REQ_NEW_CONTROL with port number 0 (any free port)
	// in the bits above the low byte.
	vdeNewControl = 0
	// sockaddrUnLen is sizeof(struct sockaddr_un) on Linux: a 2-byte
	// family and 108 bytes of path.
	sockaddrUnLen = 110
	afUnix        = 1
)

// vdeDialTimeout bounds the exchange with the switch's control socket.
const vdeDialTimeout = 10 * time.Second

// AttachVDE bridges vlan to a running vde_switch: the switch becomes one
// more port of the vlan, named "vde:<dir>", so the machines of the vlan
// and whatever is plugged into the vde_switch (other QEMU guests, vde_plug,
// a tap) form one Ethernet. dir is the switch's socket directory, as given
// to vde_switch -s (or its control socket itself). The vde_switch must run
// as this user or root: it sends to a socket in this switch's private
// directory. Frames from and to the vde_switch pass the same policy,
// capture and queues as a machine's; the uplink is not a machine, so Block
// does not name it, and in a Partition it is with the machines no group
// names. It lasts until Close, or until the vde_switch goes away.
func (s *Switch) AttachVDE(vlanID int, dir string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("attaching vlan %d to the vde_switch %s: the switch is closed", vlanID, dir)
	}
	ctl, data, peer, local, err := vdeOpen(dir, filepath.Join(s.dir, fmt.Sprintf("vde%d-%d.sock", vlanID, len(s.ports))), fmt.Sprintf("vmtest vlan %d", vlanID))
	if err != nil {
		return fmt.Errorf("attaching vlan %d to the vde_switch %s: %w", vlanID, dir, err)
	}
	v := s.vlanLocked(vlanID)
	p := &port{sw: s, vlan: v, name: "vde:" + dir, socket: local, stop: func() { ctl.Close() }}
	s.ports = append(s.ports, p)
	v.mu.Lock()
	v.ports = append(v.ports, p)
	v.mu.Unlock()
	c := &conn{p: p, uc: data, peer: peer, q: newQueue()}
	p.connects.Add(1)
	p.conn.Store(c)
	c.start()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		// The control stream carries nothing more; it ends when the
		// vde_switch goes away or the port is closed.
		io.Copy(io.Discard, ctl)
		ctl.Close()
		p.conn.CompareAndSwap(c, nil)
		c.stop()
	}()
	return nil
}

// vdeOpen plugs into the vde_switch of dir: it binds a datagram socket at
// local, asks the switch for a port and returns the control stream, the
// datagram socket and the switch's datagram address for the port.
func vdeOpen(dir, local, descr string) (*net.UnixConn, *net.UnixConn, *net.UnixAddr, string, error) {
	ctlPath := dir
	if fi, err := os.Stat(dir); err != nil {
		return nil, nil, nil, "", fmt.Errorf("no vde_switch there: %w", err)
	} else if fi.IsDir() {
		ctlPath = filepath.Join(dir, "ctl")
	}
	if len(local) > maxSocketPath {
		return nil, nil, nil, "", fmt.Errorf("socket path %s is %d bytes, a unix socket allows %d; use a shorter TMPDIR", local, len(local), maxSocketPath)
	}
	ctl, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: ctlPath, Net: "unix"})
	if err != nil {
		return nil, nil, nil, "", fmt.Errorf("no vde_switch answers: %w", err)
	}
	os.Remove(local)
	data, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: local, Net: "unixgram"})
	if err != nil {
		ctl.Close()
		return nil, nil, nil, "", err
	}
	peer, err := vdeRequest(ctl, local, descr)
	if err != nil {
		ctl.Close()
		data.Close()
		os.Remove(local)
		return nil, nil, nil, "", err
	}
	return ctl, data, peer, local, nil
}

// vdeRequest asks the switch behind ctl for a port that sends to the
// datagram socket at local, and returns the address of the port's own.
func vdeRequest(ctl *net.UnixConn, local, descr string) (*net.UnixAddr, error) {
	req := binary.NativeEndian.AppendUint32(nil, vdeMagic)
	req = binary.NativeEndian.AppendUint32(req, vdeVersion)
	req = binary.NativeEndian.AppendUint32(req, vdeNewControl)
	req = append(req, sockaddrUn(local)...)
	req = append(req, descr...)
	ctl.SetDeadline(time.Now().Add(vdeDialTimeout))
	defer ctl.SetDeadline(time.Time{})
	if _, err := ctl.Write(req); err != nil {
		return nil, fmt.Errorf("asking for a port: %w", err)
	}
	reply := make([]byte, sockaddrUnLen)
	if _, err := io.ReadFull(ctl, reply); err != nil {
		return nil, fmt.Errorf("asking for a port: no answer (%w); is it a vde_switch (VDE 2) control socket?", err)
	}
	return parseVDEReply(reply)
}

// parseVDEReply reads the vde_switch's answer to a request for a port:
// the struct sockaddr_un of the port's datagram socket.
func parseVDEReply(reply []byte) (*net.UnixAddr, error) {
	if len(reply) != sockaddrUnLen {
		return nil, fmt.Errorf("asking for a port: want an answer of %d bytes, got %d", sockaddrUnLen, len(reply))
	}
	name, _, _ := bytes.Cut(reply[2:], []byte{0})
	if binary.NativeEndian.Uint16(reply) != afUnix || len(name) == 0 {
		return nil, errors.New("asking for a port: the answer is not a unix socket address")
	}
	return &net.UnixAddr{Name: string(name), Net: "unixgram"}, nil
}

// sockaddrUn is struct sockaddr_un for path, in the host's byte order.
func sockaddrUn(path string) []byte {
	b := binary.NativeEndian.AppendUint16(make([]byte, 0, sockaddrUnLen), afUnix)
	b = append(b, path...)
	return append(b, make([]byte, sockaddrUnLen-len(b))...)
}
