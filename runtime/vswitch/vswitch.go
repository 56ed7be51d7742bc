// Package vswitch is the virtual Ethernet switch that connects the machines
// of one run. It lives in the vmtest process: every QEMU NIC is a client of
// one unix socket of the switch (QEMU's "-netdev stream,server=off"), over
// which Ethernet frames travel, each prefixed by its length as 4 bytes, big
// endian. The switch is the listener because QEMU's stream server accepts
// one peer at a time, and because a rebooted machine's new QEMU process must
// find its port again.
//
// A Switch is a learning switch per vlan: it learns which port each source
// MAC lives behind, sends unicast frames to the learned port and floods the
// others (and every broadcast and multicast frame) to all other ports of the
// same vlan. Frames never cross vlans.
//
// # Flow of a frame
//
// Each connected port has one reader goroutine and one writer goroutine.
// The reader takes a frame from the guest and decides, under no lock that a
// writer holds, which ports receive it:
//
//	read → ingress policy (Block) → capture → learn source → choose destinations
//	     → per destination: policy (Block, Partition, the link's loss)
//	     → egress queue of the destination (the link's latency and rate)
//
// An egress queue is bounded and never blocks the sender: a frame that does
// not fit is dropped and counted, as a real switch does. It keeps one small
// FIFO per source port and the writer takes frames from them in turn, so a
// guest that floods the network fills only its own share of everyone's
// queue and cannot starve the other senders or grow memory without bound.
//
// Faults are the switch's policy (policy.go): Block cuts a machine off;
// Partition splits the machines into groups that do not reach each other;
// SetLink gives the link between two machines latency, jitter, loss and a
// rate. A lost frame is dropped where it would be queued; a delayed one
// waits in its destination's queue, in the FIFO of its source, which is
// the link: frames of one link never overtake each other, and the writer
// takes a frame only once it is due. So faults add no goroutine, and the
// bounds of the queues bound their memory.
//
// A capture (Capture) records every frame a vlan carries after the
// ingress policy, where each passes exactly once; AttachVDE bridges a vlan
// to a vde_switch.
package vswitch

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

var _ io.Closer = (*Switch)(nil)

// Queue bounds, per (source, destination) pair of ports: whichever is
// reached first makes the switch drop further frames from that source to
// that destination until the destination's writer has caught up. 256 full
// size frames are about 380 KiB, more than a TCP window between two guests
// under software emulation needs.
const (
	queueFrames = 256
	queueBytes  = 512 << 10
)

// maxFrame is the largest frame accepted from a client. QEMU never sends
// more than its NET_BUFSIZE (68 KiB); a larger length means the stream is
// out of step, and the connection is dropped.
const maxFrame = 128 << 10

// minFrame is the Ethernet header: destination, source, EtherType.
const minFrame = 14

// maxSocketPath is the longest path a unix socket address can hold.
const maxSocketPath = 107

// Switch is one run's virtual switch. Its methods are safe for concurrent
// use. New returns a switch with no ports; Attach adds them; Close stops it.
type Switch struct {
	dir string

	mu      sync.Mutex
	closed  bool
	ports   []*port // in the order of Attach
	vlans   map[int]*vlan
	blocked map[string]bool // machine name → blocked; also for ports attached later

	policy atomic.Pointer[policy] // nil: no partition, perfect links

	wg sync.WaitGroup // one accept loop per port, and the VDE uplinks
}

// vlan is one broadcast domain: its ports and the MACs learned on them.
type vlan struct {
	id      int
	mu      sync.RWMutex
	ports   []*port
	fdb     map[mac]*port // forwarding database: source MAC → port it came from
	capture atomic.Pointer[pcapWriter]
}

type mac [6]byte

func (m mac) String() string { return net.HardwareAddr(m[:]).String() }

// New returns a switch whose sockets live in dir, which must exist and be
// private to this user (mode 0700, such as a vm.RunDir): whoever can
// connect to a socket is a machine on the network.
func New(dir string) *Switch {
	return &Switch{dir: dir, vlans: map[int]*vlan{}, blocked: map[string]bool{}}
}

// Attach adds a port for one NIC of the machine called name (the name
// Block and Stats use; a machine on several vlans has a port on each) to
// vlan and returns the path of the unix socket QEMU connects to:
//
//	-netdev stream,id=n0,server=off,addr.type=unix,addr.path=SOCKET
//
// The switch accepts on the socket until Close: when the machine reboots,
// its new QEMU process connects again, and a new connection replaces the
// old one of the same port (frames still queued for the old one are
// discarded). Attach fails if the socket cannot be made or the switch is
// closed.
func (s *Switch) Attach(vlanID int, name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", fmt.Errorf("attaching %s to vlan %d: the switch is closed", name, vlanID)
	}
	path := filepath.Join(s.dir, fmt.Sprintf("v%d-%d.sock", vlanID, len(s.ports)))
	if len(path) > maxSocketPath {
		return "", fmt.Errorf("attaching %s to vlan %d: socket path %s is %d bytes, a unix socket allows %d; use a shorter TMPDIR", name, vlanID, path, len(path), maxSocketPath)
	}
	os.Remove(path) // left by a process that is gone: the directory is ours
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return "", fmt.Errorf("attaching %s to vlan %d: %w", name, vlanID, err)
	}
	v := s.vlanLocked(vlanID)
	p := &port{sw: s, vlan: v, name: name, socket: path, ln: ln}
	p.blocked.Store(s.blocked[name])
	s.ports = append(s.ports, p)
	v.mu.Lock()
	v.ports = append(v.ports, p)
	v.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		p.acceptLoop()
	}()
	return path, nil
}

// vlanLocked returns the vlan called id, making it if need be. The caller
// holds s.mu.
func (s *Switch) vlanLocked(id int) *vlan {
	v := s.vlans[id]
	if v == nil {
		v = &vlan{id: id, fdb: map[mac]*port{}}
		s.vlans[id] = v
	}
	return v
}

// Block cuts (blocked true) or restores (false) every port of the machine
// called name, including ports attached later: a blocked machine's frames
// are dropped on entry and no frame reaches it, as if its cables were
// pulled. Its QEMU stays connected. Blocking a name with no ports is not an
// error.
func (s *Switch) Block(name string, blocked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if blocked {
		s.blocked[name] = true
	} else {
		delete(s.blocked, name)
	}
	for _, p := range s.ports {
		if p.name == name {
			p.blocked.Store(blocked)
		}
	}
}

// PortStats are the counters of one port since it was attached, across
// reconnections. "In" is from the machine into the switch, "Out" from the
// switch to the machine.
type PortStats struct {
	Name      string // the machine
	VLAN      int
	Socket    string
	Connected bool // a QEMU is connected now
	Connects  int  // connections accepted so far
	Blocked   bool

	InFrames, InBytes   uint64
	OutFrames, OutBytes uint64 // written to the machine's socket
	// Drops counts frames meant for this port that were thrown away: its
	// queue was full, or no QEMU was connected.
	Drops uint64
	// Filtered counts frames from or to this port that the policy
	// discarded (Block, Partition); Lost the frames meant for it that its
	// links lost (SetLink's Loss, or a full rate backlog); Malformed frames
	// shorter than an Ethernet header.
	Filtered  uint64
	Lost      uint64
	Malformed uint64
}

// Stats returns the counters of every port, in the order of Attach. The
// counters of one port are read one at a time, so they may be mutually
// inconsistent by the frames in flight.
func (s *Switch) Stats() []PortStats {
	s.mu.Lock()
	ports := append([]*port(nil), s.ports...)
	s.mu.Unlock()
	out := make([]PortStats, len(ports))
	for i, p := range ports {
		out[i] = PortStats{
			Name: p.name, VLAN: p.vlan.id, Socket: p.socket,
			Connected: p.current() != nil,
			Connects:  int(p.connects.Load()),
			Blocked:   p.blocked.Load(),
			InFrames:  p.inFrames.Load(), InBytes: p.inBytes.Load(),
			OutFrames: p.outFrames.Load(), OutBytes: p.outBytes.Load(),
			Drops: p.drops.Load(), Filtered: p.filtered.Load(), Lost: p.lost.Load(), Malformed: p.malformed.Load(),
		}
	}
	return out
}

// Close stops the switch: it closes every listener and connection, waits
// for every goroutine of the switch to end and removes the sockets. QEMU
// processes still connected see their stream end. Close is safe to call
// more than once; later calls return at once.
func (s *Switch) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ports := s.ports
	s.mu.Unlock()
	for _, p := range ports {
		p.close() // ends the accept loop or uplink, which closes its connection
	}
	s.wg.Wait()
	for _, p := range ports {
		os.Remove(p.socket)
	}
	return s.stopCaptures()
}

// forward passes one frame that arrived on port from to the ports that
// should receive it. It runs on from's reader goroutine and never blocks
// on another port.
func (s *Switch) forward(from *port, frame []byte) {
	if from.blocked.Load() {
		from.filtered.Add(1)
		return
	}
	v := from.vlan
	if w := v.capture.Load(); w != nil {
		w.write(frame)
	}
	var dst, src mac
	copy(dst[:], frame[0:6])
	copy(src[:], frame[6:12])
	v.learn(src, from)
	pol := s.policy.Load()

	if dst[0]&1 == 0 { // unicast
		v.mu.RLock()
		to := v.fdb[dst]
		v.mu.RUnlock()
		if to != nil {
			if to != from {
				s.deliver(pol, from, to, frame)
			}
			return
		}
	}
	v.mu.RLock()
	ports := v.ports
	v.mu.RUnlock()
	for _, to := range ports {
		if to != from {
			s.deliver(pol, from, to, frame)
		}
	}
}

// deliver queues frame for port to if the policy lets it pass from port
// from, shaped by the link between them.
func (s *Switch) deliver(pol *policy, from, to *port, frame []byte) {
	if to.blocked.Load() || !pol.empty() && pol.apart(from.name, to.name) {
		to.filtered.Add(1)
		return
	}
	var l *Link
	if !pol.empty() && len(pol.links) > 0 {
		link := pol.link(from.name, to.name)
		if lost(&link) {
			to.lost.Add(1)
			return
		}
		if !link.IsZero() {
			l = &link
		}
	}
	c := to.current()
	if c == nil {
		to.drops.Add(1)
		return
	}
	if !c.q.push(from, frame, l) {
		if l != nil && l.Rate > 0 {
			to.lost.Add(1) // the link's queue, not the port's, is full
			return
		}
		to.drops.Add(1)
	}
}

// learn records that src lives behind port p.
func (v *vlan) learn(src mac, p *port) {
	if src[0]&1 != 0 {
		return // a multicast source is bogus; never learn it
	}
	v.mu.RLock()
	known := v.fdb[src] == p
	v.mu.RUnlock()
	if known {
		return
	}
	v.mu.Lock()
	v.fdb[src] = p
	v.mu.Unlock()
}

// port is one switch port: a listening socket and at most one connected
// QEMU at a time.
type port struct {
	sw     *Switch
	vlan   *vlan
	name   string
	socket string
	ln     *net.UnixListener

	blocked atomic.Bool
	conn    atomic.Pointer[conn] // the connected QEMU, or nil

	connects                               atomic.Int64
	inFrames, inBytes, outFrames, outBytes atomic.Uint64
	drops, filtered, lost, malformed       atomic.Uint64

	// stop ends an uplink (AttachVDE), which has no listener; nil for
	// other ports.
	stop func()
}

// close ends the port's accept loop, or its uplink.
func (p *port) close() {
	if p.ln != nil {
		p.ln.Close()
	}
	if p.stop != nil {
		p.stop()
	}
}

func (p *port) current() *conn { return p.conn.Load() }

// acceptLoop accepts connections until the listener is closed, each
// replacing the one before. It owns the connections' goroutines: it waits
// for them before it serves the next connection and before it returns.
func (p *port) acceptLoop() {
	var cur *conn
	defer func() {
		if cur != nil {
			p.conn.CompareAndSwap(cur, nil)
			cur.stop()
		}
	}()
	for {
		uc, err := p.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient failure (out of file descriptors): the listener
			// is still good, so keep going rather than lose the port.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if cur != nil {
			p.conn.CompareAndSwap(cur, nil)
			cur.stop()
		}
		cur = newConn(p, uc)
		p.connects.Add(1)
		p.conn.Store(cur)
		cur.start()
	}
}

// conn is one connection of a port: a QEMU's stream (frames prefixed by
// their length), or a VDE uplink's datagram socket (a frame per datagram,
// sent to peer); its reader and writer goroutines and its egress queue.
type conn struct {
	p    *port
	uc   *net.UnixConn
	peer *net.UnixAddr // datagrams go there; nil for a stream
	q    *queue
	wg   sync.WaitGroup
}

func newConn(p *port, uc *net.UnixConn) *conn {
	return &conn{p: p, uc: uc, q: newQueue()}
}

// start runs the reader and the writer; stop ends them.
func (c *conn) start() {
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		c.read()
		// The peer has gone: let the writer end too. A later connection
		// gets its own queue.
		c.p.conn.CompareAndSwap(c, nil)
		c.q.close()
	}()
	go func() {
		defer c.wg.Done()
		c.write()
		c.uc.Close() // the reader sees the end too
	}()
}

// stop closes the connection and waits for its goroutines. The port must
// no longer hand it frames (p.conn no longer points to it).
func (c *conn) stop() {
	c.uc.Close()
	c.q.close()
	c.wg.Wait()
}

// read passes frames from QEMU to the switch until the stream ends or
// is out of step.
func (c *conn) read() {
	if c.peer != nil {
		c.readDatagrams()
		return
	}
	readFrames(bufio.NewReaderSize(c.uc, 64<<10), c.received)
}

// readFrames passes got the frames of a stream as QEMU's stream netdev
// writes them, each after its length (4 bytes, big-endian), until r ends
// or a length over maxFrame says the stream is out of step.
func readFrames(r io.Reader, got func(frame []byte)) {
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > maxFrame {
			return
		}
		// Each frame gets its own buffer: it may sit in several queues.
		frame := make([]byte, n)
		if _, err := io.ReadFull(r, frame); err != nil {
			return
		}
		got(frame)
	}
}

// readDatagrams passes frames from a datagram socket to the switch until
// the socket is closed.
func (c *conn) readDatagrams() {
	buf := make([]byte, maxFrame)
	for {
		n, _, err := c.uc.ReadFromUnix(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // a datagram that did not fit, or an interrupted read
		}
		c.received(append([]byte(nil), buf[:n]...))
	}
}

// received counts a frame read from the connection and forwards it.
func (c *conn) received(frame []byte) {
	c.p.inFrames.Add(1)
	c.p.inBytes.Add(uint64(len(frame)))
	if len(frame) < minFrame {
		c.p.malformed.Add(1)
		return
	}
	c.p.sw.forward(c.p, frame)
}

// write sends queued frames to QEMU, several per system call, until the
// queue is closed or a write fails.
func (c *conn) write() {
	var batch [][]byte
	var hdrs []byte
	var iov net.Buffers // reused: WriteTo consumes a copy of the slice
	for {
		batch = c.q.pop(batch[:0], 64)
		if len(batch) == 0 {
			return // closed
		}
		if c.peer != nil {
			if !c.writeDatagrams(batch) {
				return
			}
			clear(batch)
			continue
		}
		hdrs = hdrs[:0]
		for _, f := range batch {
			hdrs = binary.BigEndian.AppendUint32(hdrs, uint32(len(f)))
		}
		bufs := iov[:0]
		var n int
		for i, f := range batch {
			bufs = append(bufs, hdrs[4*i:4*i+4], f)
			n += len(f)
		}
		iov = bufs
		if _, err := bufs.WriteTo(c.uc); err != nil {
			return
		}
		clear(iov) // let the frames go
		c.p.outFrames.Add(uint64(len(batch)))
		c.p.outBytes.Add(uint64(n))
		clear(batch) // let the frames go
	}
}

// writeDatagrams sends each frame of batch as one datagram to the peer and
// reports whether the socket is still usable. A frame the peer refuses
// (its buffer full) is dropped, as the peer's own switch would.
func (c *conn) writeDatagrams(batch [][]byte) bool {
	for _, f := range batch {
		if _, err := c.uc.WriteToUnix(f, c.peer); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return false
			}
			c.p.drops.Add(1)
			continue
		}
		c.p.outFrames.Add(1)
		c.p.outBytes.Add(uint64(len(f)))
	}
	return true
}
