package vswitch

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestPartitionAndHeal(t *testing.T) {
	s := newSwitch(t)
	a, b, c, d := plug(t, s, 1, "a", 1), plug(t, s, 1, "b", 2), plug(t, s, 1, "c", 3), plug(t, s, 1, "d", 4)
	if err := s.Partition([][]string{{"a", "b"}, {"c"}}); err != nil {
		t.Fatal(err)
	}
	// a and b are together; c alone; d, named by no group, is with the
	// other unnamed machines (none here).
	a.send(broadcast, "a in the partition")
	b.expect("a in the partition")
	c.expectNothing()
	d.expectNothing()
	c.send(broadcast, "c in the partition")
	a.expectNothing()
	b.expectNothing()
	d.expectNothing()
	if st := statsOf(t, s, "c"); st.Filtered != 1 {
		t.Errorf("c's filtered frames: %d, want 1 (a's broadcast)", st.Filtered)
	}

	// A new partition replaces the old one.
	if err := s.Partition([][]string{{"a"}}); err != nil {
		t.Fatal(err)
	}
	b.send(broadcast, "b with the rest")
	c.expect("b with the rest")
	d.expect("b with the rest")
	a.expectNothing()

	s.Heal()
	a.send(broadcast, "healed")
	b.expect("healed")
	c.expect("healed")
	d.expect("healed")

	for _, tc := range []struct {
		groups [][]string
		want   string
	}{
		{[][]string{{"a", "b"}, {"b"}}, "b is in group 1 and in group 2"},
		{[][]string{{"a", "a"}}, "a is listed twice in group 1"},
	} {
		if err := s.Partition(tc.groups); err == nil || err.Error() != tc.want {
			t.Errorf("Partition(%v) = %v, want %q", tc.groups, err, tc.want)
		}
	}
}

// recvTimed reads frames until one carries payload and returns when it
// arrived.
func (c *client) recvTimed(payload string) time.Time {
	c.t.Helper()
	for {
		f := c.recv(10 * time.Second)
		if f == nil {
			c.t.Fatalf("%s got nothing, want %q", c.name, payload)
		}
		if string(f[14:]) == payload {
			return time.Now()
		}
	}
}

func TestLinkLatencyIsALowerBound(t *testing.T) {
	s := newSwitch(t)
	a, b, c := plug(t, s, 1, "a", 1), plug(t, s, 1, "b", 2), plug(t, s, 1, "c", 3)
	const lat = 80 * time.Millisecond
	if err := s.SetLink("a", "b", Link{Latency: lat}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	a.send(broadcast, "slow to b")
	c.expect("slow to b") // the link a → c is perfect
	if got := b.recvTimed("slow to b").Sub(start); got < lat {
		t.Errorf("a frame on a link with latency %s arrived after %s", lat, got)
	}
	// The link is one way: b → a is perfect.
	b.send(a.mac, "back")
	a.expect("back")

	// Cables: a's outgoing and c's incoming add up on a → c.
	s.SetLink("a", "b", Link{})
	s.SetLink("a", "", Link{Latency: lat / 2})
	s.SetLink("", "c", Link{Latency: lat / 2})
	start = time.Now()
	a.send(c.mac, "through two cables")
	if got := c.recvTimed("through two cables").Sub(start); got < lat {
		t.Errorf("through two cables of %s each: %s", lat/2, got)
	}
	// A link of the pair itself replaces the cables.
	s.SetLink("a", "c", Link{Loss: 1})
	a.send(c.mac, "lost")
	c.expectNothing()
	if st := statsOf(t, s, "c"); st.Lost != 1 {
		t.Errorf("c's lost frames: %d, want 1", st.Lost)
	}
}

func TestJitterKeepsOrder(t *testing.T) {
	s := newSwitch(t)
	a, b := plug(t, s, 1, "a", 1), plug(t, s, 1, "b", 2)
	s.SetLink("a", "b", Link{Latency: 20 * time.Millisecond, Jitter: 20 * time.Millisecond})
	const n = 200
	for i := range n {
		a.send(broadcast, fmt.Sprint(i))
	}
	for i := range n {
		b.expect(fmt.Sprint(i))
	}
}

func TestLossIsAProbability(t *testing.T) {
	s := newSwitch(t)
	a, b := plug(t, s, 1, "a", 1), plug(t, s, 1, "b", 2)
	s.SetLink("a", "b", Link{Loss: 0.5})
	// 1000 frames: what passes stays well below a port's queue bound, so
	// none is dropped for want of room.
	const n = 1000
	for range n {
		a.send(broadcast, "maybe")
	}
	// Receive until every frame is accounted for, lost or received (a
	// loaded host may pause the switch for a while), or for 10 s.
	got := 0
	var st PortStats
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if b.recv(100*time.Millisecond) != nil {
			got++
			continue
		}
		if st = statsOf(t, s, "b"); int(st.Lost)+got == n {
			break
		}
	}
	// Binomial(1000, 0.5): 6 standard deviations either side.
	if got < 405 || got > 595 {
		t.Errorf("%d of %d frames passed a link with loss 0.5", got, n)
	}
	if st = statsOf(t, s, "b"); int(st.Lost)+got != n {
		t.Errorf("b: %d lost + %d received, want %d (drops %d)", st.Lost, got, n, st.Drops)
	}
	if err := s.SetLink("a", "b", Link{Loss: 1.5}); err == nil {
		t.Error("a loss of 1.5 was accepted")
	}
	if err := s.SetLink("", "", Link{}); err == nil {
		t.Error("a link without machines was accepted")
	}
}

func TestRateIsALowerBoundAndBacklogIsBounded(t *testing.T) {
	s := newSwitch(t)
	a, b := plug(t, s, 1, "a", 1), plug(t, s, 1, "b", 2)
	const rate = 1_000_000 // 1 mbit
	s.SetLink("a", "b", Link{Rate: rate})
	payload := strings.Repeat("x", 986) // 1000-byte frames: 8 ms each
	start := time.Now()
	const n = 10
	for range n {
		a.send(broadcast, payload)
	}
	var last time.Time
	for range n {
		last = b.recvTimed(payload)
	}
	if min := time.Duration(n*1000*8) * time.Second / rate; last.Sub(start) < min {
		t.Errorf("%d frames of 1000 bytes at 1mbit took %s, at least %s expected", n, last.Sub(start), min)
	}

	// Far more than 200 ms of backlog: the link drops the excess, and
	// nothing grows.
	for range 200 {
		a.send(broadcast, payload)
	}
	got := 0
	for b.recv(500*time.Millisecond) != nil {
		got++
	}
	st := statsOf(t, s, "b")
	if got == 0 || got > 40 || st.Lost == 0 {
		t.Errorf("200 frames at once into a 1mbit link: %d passed, %d lost; want about 25 passed", got, st.Lost)
	}
}

// TestDelayedFramesAreBounded floods a link with latency: the frames
// waiting on it are bounded, and the sender is never blocked.
func TestDelayedFramesAreBounded(t *testing.T) {
	s := newSwitch(t)
	a, b := plug(t, s, 1, "a", 1), plug(t, s, 1, "b", 2)
	s.SetLink("a", "b", Link{Latency: time.Hour})
	f := frame(broadcast, a.mac, strings.Repeat("y", 1000))
	buf := binary.BigEndian.AppendUint32(nil, uint32(len(f)))
	buf = append(buf, f...)
	const n = 5000
	for range n {
		if _, err := a.c.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for statsOf(t, s, "a").InFrames < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	st := statsOf(t, s, "b")
	if st.Drops != n-delayFrames {
		t.Errorf("b: %d frames dropped, want %d (all beyond the %d a delayed link holds)", st.Drops, n-delayFrames, delayFrames)
	}
	b.expectNothing()
}

// TestFaultsLeaveNoGoroutines: a switch with faults set and frames
// delayed in flight ends everything at Close.
func TestFaultsLeaveNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	dir := t.TempDir()
	s := New(dir)
	var clients []*client
	for i := range 3 {
		sock, err := s.Attach(1, fmt.Sprint("m", i))
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, dial(t, s, sock, fmt.Sprint("m", i), mac{2, 0, 0, 0, 0, byte(i + 1)}))
	}
	s.SetLink("m0", "", Link{Latency: time.Minute, Jitter: time.Second, Rate: 1e6, Loss: 0.1})
	s.Partition([][]string{{"m1"}})
	if err := s.Capture(1, dir+"/vlan1.pcap"); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		clients[0].send(broadcast, "delayed for a minute")
	}
	clients[2].send(broadcast, "to nobody in time")
	time.Sleep(50 * time.Millisecond)
	s.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before, %d after Close:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}
