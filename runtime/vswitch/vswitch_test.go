package vswitch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"
)

// client is a test peer speaking QEMU's stream framing on a switch port.
type client struct {
	t    *testing.T
	name string
	mac  mac
	c    net.Conn
}

func newSwitch(t testing.TB) *Switch {
	t.Helper()
	dir, err := os.MkdirTemp("", "vsw-")
	if err != nil {
		t.Fatal(err)
	}
	s := New(dir)
	t.Cleanup(func() {
		s.Close()
		os.RemoveAll(dir)
	})
	return s
}

// plug attaches a port for name on vlan and connects a client to it. The
// client's MAC is 02:00:00:00:00:<id>.
func plug(t *testing.T, s *Switch, vlan int, name string, id byte) *client {
	t.Helper()
	sock, err := s.Attach(vlan, name)
	if err != nil {
		t.Fatal(err)
	}
	return dial(t, s, sock, name, mac{2, 0, 0, 0, 0, id})
}

// dial connects to sock and waits until the switch has taken the
// connection as the port's current one.
func dial(t *testing.T, s *Switch, sock, name string, m mac) *client {
	t.Helper()
	before, _ := connects(s, sock)
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	deadline := time.Now().Add(5 * time.Second)
	for n, ok := connects(s, sock); n == before || !ok; n, ok = connects(s, sock) {
		if time.Now().After(deadline) {
			t.Fatalf("the switch did not accept %s on %s", name, sock)
		}
		time.Sleep(time.Millisecond)
	}
	return &client{t: t, name: name, mac: m, c: c}
}

// connects returns how many connections the port of sock has accepted and
// whether one is current.
func connects(s *Switch, sock string) (int, bool) {
	for _, st := range s.Stats() {
		if st.Socket == sock {
			return st.Connects, st.Connected
		}
	}
	return 0, false
}

var broadcast = mac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

func frame(dst, src mac, payload string) []byte {
	f := append(append(append([]byte(nil), dst[:]...), src[:]...), 0x88, 0xb5)
	return append(f, payload...)
}

// send writes one frame from c to dst.
func (c *client) send(dst mac, payload string) {
	c.t.Helper()
	c.sendRaw(frame(dst, c.mac, payload))
}

func (c *client) sendRaw(f []byte) {
	c.t.Helper()
	b := binary.BigEndian.AppendUint32(nil, uint32(len(f)))
	if _, err := c.c.Write(append(b, f...)); err != nil {
		c.t.Fatalf("%s sending: %v", c.name, err)
	}
}

// recv reads one frame, or returns nil when none arrives within d.
func (c *client) recv(d time.Duration) []byte {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(d))
	var hdr [4]byte
	if _, err := io.ReadFull(c.c, hdr[:]); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		c.t.Fatalf("%s receiving: %v", c.name, err)
	}
	f := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c.c, f); err != nil {
		c.t.Fatalf("%s receiving: %v", c.name, err)
	}
	return f
}

// expect fails unless the next frame c receives carries payload.
func (c *client) expect(payload string) {
	c.t.Helper()
	f := c.recv(5 * time.Second)
	if f == nil {
		c.t.Fatalf("%s got nothing, want %q", c.name, payload)
	}
	if got := string(f[14:]); got != payload {
		c.t.Fatalf("%s got %q, want %q", c.name, got, payload)
	}
}

// expectNothing fails if c receives a frame within a short while. (A
// negative check cannot be exact; it cannot fail falsely either.)
func (c *client) expectNothing() {
	c.t.Helper()
	if f := c.recv(100 * time.Millisecond); f != nil {
		c.t.Fatalf("%s got %q, want nothing", c.name, f[14:])
	}
}

func statsOf(t *testing.T, s *Switch, name string) PortStats {
	t.Helper()
	for _, st := range s.Stats() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no port of %s in %+v", name, s.Stats())
	return PortStats{}
}

func TestLearningAndFlooding(t *testing.T) {
	s := newSwitch(t)
	a, b, c := plug(t, s, 1, "a", 1), plug(t, s, 1, "b", 2), plug(t, s, 1, "c", 3)

	// b is unknown yet: flooded to everyone but the sender.
	a.send(b.mac, "a to b, flooded")
	b.expect("a to b, flooded")
	c.expect("a to b, flooded")
	a.expectNothing()

	// a has been learned: the reply goes to a only.
	b.send(a.mac, "b to a")
	a.expect("b to a")
	c.expectNothing()

	// Now both are known.
	a.send(b.mac, "a to b, direct")
	b.expect("a to b, direct")
	c.expectNothing()

	// Broadcast and multicast reach all others.
	c.send(broadcast, "c to all")
	a.expect("c to all")
	b.expect("c to all")
	c.send(mac{0x33, 0x33, 0, 0, 0, 1}, "c to ipv6 all-nodes")
	a.expect("c to ipv6 all-nodes")
	b.expect("c to ipv6 all-nodes")

	// A frame to its own sender's port is not echoed.
	a.send(a.mac, "to myself")
	a.expectNothing()

	st := statsOf(t, s, "a")
	if st.InFrames != 3 || st.OutFrames != 3 || st.InBytes != uint64(len(frame(b.mac, a.mac, "a to b, flooded"))+len(frame(b.mac, a.mac, "a to b, direct"))+len(frame(a.mac, a.mac, "to myself"))) {
		t.Errorf("stats of a: %+v", st)
	}
}

func TestShortFrameIsCountedAndIgnored(t *testing.T) {
	s := newSwitch(t)
	a, b := plug(t, s, 1, "a", 1), plug(t, s, 1, "b", 2)
	a.sendRaw([]byte{1, 2, 3})
	a.send(broadcast, "after")
	b.expect("after")
	if st := statsOf(t, s, "a"); st.Malformed != 1 {
		t.Errorf("Malformed = %d, want 1", st.Malformed)
	}
}

func TestVLANsAreIsolated(t *testing.T) {
	s := newSwitch(t)
	a, b := plug(t, s, 1, "a", 1), plug(t, s, 1, "b", 2)
	x, y := plug(t, s, 2, "x", 3), plug(t, s, 2, "y", 4)

	a.send(broadcast, "vlan 1")
	b.expect("vlan 1")
	x.send(broadcast, "vlan 2")
	y.expect("vlan 2")
	x.expectNothing()
	a.expectNothing()

	// Even a MAC learned on another vlan does not pull a frame across.
	x.send(a.mac, "x to a's mac")
	y.expect("x to a's mac")
	a.expectNothing()
	b.expectNothing()
}

func TestSameMachineOnTwoVLANs(t *testing.T) {
	s := newSwitch(t)
	r1, r2 := plug(t, s, 1, "router", 1), plug(t, s, 2, "router", 2)
	a, x := plug(t, s, 1, "a", 3), plug(t, s, 2, "x", 4)
	a.send(broadcast, "from a")
	r1.expect("from a")
	r2.expectNothing()
	x.expectNothing()
}

func TestReconnectReplacesConnection(t *testing.T) {
	s := newSwitch(t)
	a := plug(t, s, 1, "a", 1)
	sock, err := s.Attach(1, "b")
	if err != nil {
		t.Fatal(err)
	}
	b := dial(t, s, sock, "b", mac{2, 0, 0, 0, 0, 2})
	b.send(a.mac, "hello")
	a.expect("hello")

	// The machine reboots: a new QEMU connects while the old one is still
	// connected (or after it has gone; both must work).
	b2 := dial(t, s, sock, "b", b.mac)
	if _, err := b.c.Read(make([]byte, 1)); err == nil {
		t.Fatal("the replaced connection still delivers data")
	}
	a.send(b.mac, "to the new b")
	b2.expect("to the new b")
	b2.c.Close()
	b3 := dial(t, s, sock, "b", b.mac)
	a.send(b.mac, "to the third b")
	b3.expect("to the third b")
	b3.send(a.mac, "from the third b")
	a.expect("from the third b")

	if st := statsOf(t, s, "b"); st.Connects != 3 || !st.Connected {
		t.Errorf("stats of b: %+v, want 3 connects and connected", st)
	}
}

func TestFullQueueDropsWithoutBlockingOrStarvingOthers(t *testing.T) {
	s := newSwitch(t)
	flood, quiet := plug(t, s, 1, "flood", 1), plug(t, s, 1, "quiet", 2)
	slow := plug(t, s, 1, "slow", 3) // never reads until the end
	// Teach the switch where slow is, so the flood is unicast to it.
	slow.send(broadcast, "i am here")
	flood.expect("i am here")
	quiet.expect("i am here")

	// Far more than the socket buffers and the queue hold. Every write must
	// return: the switch drops rather than pushing back on the sender.
	const n = 20000
	payload := string(bytes.Repeat([]byte{'x'}, 1000))
	done := make(chan error, 1)
	go func() {
		f := frame(slow.mac, flood.mac, payload)
		b := binary.BigEndian.AppendUint32(nil, uint32(len(f)))
		b = append(b, f...)
		for i := 0; i < n; i++ {
			if _, err := flood.c.Write(b); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the flooding sender was blocked")
	}
	deadline := time.Now().Add(10 * time.Second)
	for statsOf(t, s, "flood").InFrames < n {
		if time.Now().After(deadline) {
			t.Fatalf("the switch read only %d of %d frames", statsOf(t, s, "flood").InFrames, n)
		}
		time.Sleep(time.Millisecond)
	}
	st := statsOf(t, s, "slow")
	if st.Drops == 0 {
		t.Fatalf("no drops at slow's port after %d frames: %+v", n, st)
	}
	// The flood fills only its own share of slow's queue: a frame from
	// quiet still gets in.
	quiet.send(slow.mac, "not starved")
	if got := statsOf(t, s, "slow").Drops; got != st.Drops {
		t.Fatalf("quiet's frame was dropped too (drops %d → %d)", st.Drops, got)
	}
	found := false
	for {
		f := slow.recv(500 * time.Millisecond)
		if f == nil {
			break
		}
		if string(f[14:]) == "not starved" {
			found = true
		}
	}
	if !found {
		t.Fatal("quiet's frame never reached slow")
	}
	st = statsOf(t, s, "slow")
	if st.OutFrames+st.Drops != n+1 {
		t.Errorf("slow: %d out + %d dropped, want %d frames accounted for", st.OutFrames, st.Drops, n+1)
	}
}

func TestBlock(t *testing.T) {
	s := newSwitch(t)
	a, b, c := plug(t, s, 1, "a", 1), plug(t, s, 1, "b", 2), plug(t, s, 1, "c", 3)
	s.Block("b", true)
	a.send(broadcast, "while b is blocked")
	c.expect("while b is blocked")
	b.expectNothing()
	b.send(broadcast, "from blocked b")
	a.expectNothing()
	c.expectNothing()
	if st := statsOf(t, s, "b"); !st.Blocked || st.Filtered != 2 || st.Drops != 0 {
		t.Errorf("stats of blocked b: %+v, want blocked with 2 filtered", st)
	}

	s.Block("b", false)
	a.send(broadcast, "after unblock")
	b.expect("after unblock")
	c.expect("after unblock")
	b.send(a.mac, "b is back")
	a.expect("b is back")

	// Blocking applies to ports attached later, too.
	s.Block("d", true)
	d := plug(t, s, 1, "d", 4)
	a.send(broadcast, "d was blocked before it came")
	b.expect("d was blocked before it came")
	d.expectNothing()
}

func TestAttachAfterCloseAndLongPath(t *testing.T) {
	s := newSwitch(t)
	s.Close()
	if _, err := s.Attach(1, "a"); err == nil {
		t.Error("Attach on a closed switch succeeded")
	}
	long := New("/tmp/" + string(bytes.Repeat([]byte{'d'}, 110)))
	if _, err := long.Attach(1, "a"); err == nil {
		t.Error("Attach with an overlong socket path succeeded")
	}
	long.Close()
}

func TestCloseEndsConnectionsAndGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	dir := t.TempDir()
	s := New(dir)
	var cs []net.Conn
	for i := 0; i < 4; i++ {
		sock, err := s.Attach(1+i%2, fmt.Sprint("m", i))
		if err != nil {
			t.Fatal(err)
		}
		c := dial(t, s, sock, "m", mac{2, 0, 0, 0, 0, byte(i)})
		cs = append(cs, c.c)
	}
	cs[0].Write(binary.BigEndian.AppendUint32(nil, 20)) // half a frame in flight
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i, c := range cs {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		// EOF, or a reset where the client had sent what the switch never read.
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		if err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("client %d after Close: %v, want the stream to end", i, err)
		}
	}
	// A goroutine that has signalled its WaitGroup is still counted until
	// it returns, a moment later.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("%d goroutines before, %d after Close", before, after)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("sockets left after Close: %v", ents)
	}
	s.Close() // again: no effect
}
