package vswitch

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// FuzzStream feeds the switch what a machine's QEMU sends on its port
// (the guest controls every frame): any stream is framed, and its frames
// learned and forwarded to the vlan's other port, without a panic.
func FuzzStream(f *testing.F) {
	frame := func(dst, src byte, payload string) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(14+len(payload)))
		b = append(b, 2, 0, 0, 0, 0, dst, 2, 0, 0, 0, 0, src, 0x08, 0x00)
		return append(b, payload...)
	}
	f.Add(frame(2, 1, "hello"))
	f.Add(append(frame(2, 1, "x"), frame(0xff, 1, "broadcast")...))
	f.Add(append(binary.BigEndian.AppendUint32(nil, 3), 1, 2, 3))
	f.Add(binary.BigEndian.AppendUint32(nil, maxFrame+1))
	f.Add(append(binary.BigEndian.AppendUint32(nil, 20), make([]byte, 20)...))
	s := newSwitch(f)
	from := fuzzPort(f, s, "a")
	fuzzPort(f, s, "b")
	f.Fuzz(func(t *testing.T, data []byte) {
		c := from.current()
		if c == nil {
			t.Fatal("port a lost its connection")
		}
		readFrames(bytes.NewReader(data), c.received)
	})
}

// fuzzPort attaches a port for name on vlan 1, connects a client that
// reads and discards what the switch sends it, and returns the port once
// the switch has taken the connection.
func fuzzPort(f *testing.F, s *Switch, name string) *port {
	sock, err := s.Attach(1, name)
	if err != nil {
		f.Fatal(err)
	}
	c, err := net.Dial("unix", sock)
	if err != nil {
		f.Fatal(err)
	}
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, c); close(done) }()
	f.Cleanup(func() { c.Close(); <-done })
	deadline := time.Now().Add(10 * time.Second)
	for n, ok := connects(s, sock); n == 0 || !ok; n, ok = connects(s, sock) {
		if time.Now().After(deadline) {
			f.Fatalf("the switch did not take %s's connection", name)
		}
		time.Sleep(time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ports[len(s.ports)-1]
}

// FuzzVDEReply: the vde_switch's answer to a request for a port is a
// socket address or an error.
func FuzzVDEReply(f *testing.F) {
	f.Add(sockaddrUn("/tmp/vde.ctl/.01234-00000"))
	f.Add(make([]byte, sockaddrUnLen))
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, reply []byte) {
		addr, err := parseVDEReply(reply)
		if err == nil && (addr.Name == "" || len(addr.Name) > maxSocketPath+1) {
			t.Fatalf("accepted %q", addr.Name)
		}
	})
}
