package vswitch

import (
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startVDESwitch runs a vde_switch with its sockets in a new directory,
// which it returns; the switch stops when the test ends (end of its
// standard input).
func startVDESwitch(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "vde")
	cmd := exec.Command("vde_switch", "-s", dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("vde_switch (Debian package vde2): %v", err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "ctl")); err == nil {
			return dir
		}
		if time.Now().After(deadline) {
			t.Fatal("vde_switch made no control socket")
		}
	}
}

// vdePlug is a peer on a vde_switch through vde_plug, which speaks VDE's
// stream format on its standard input and output: each frame prefixed by
// its length in 2 bytes, big endian.
type vdePlug struct {
	t   *testing.T
	in  io.WriteCloser
	out chan []byte
}

func startVDEPlug(t *testing.T, dir string) *vdePlug {
	t.Helper()
	cmd := exec.Command("vde_plug", dir)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &vdePlug{t: t, in: in, out: make(chan []byte, 100)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var hdr [2]byte
		for {
			if _, err := io.ReadFull(out, hdr[:]); err != nil {
				return
			}
			f := make([]byte, binary.BigEndian.Uint16(hdr[:]))
			if _, err := io.ReadFull(out, f); err != nil {
				return
			}
			select {
			case p.out <- f:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		in.Close()
		cmd.Process.Kill()
		<-done
		cmd.Wait()
	})
	return p
}

func (p *vdePlug) send(f []byte) {
	p.t.Helper()
	if _, err := p.in.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(f))), f...)); err != nil {
		p.t.Fatal(err)
	}
}

// expect waits for a frame carrying payload, skipping others.
func (p *vdePlug) expect(payload string) {
	p.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f := <-p.out:
			if len(f) >= 14 && string(f[14:]) == payload {
				return
			}
		case <-timeout:
			p.t.Fatalf("vde_plug got no frame with %q", payload)
		}
	}
}

// TestVDEUplink bridges a vlan to a real vde_switch and exchanges frames
// both ways with vde_plug plugged into that switch.
func TestVDEUplink(t *testing.T) {
	vde := startVDESwitch(t)
	s := newSwitch(t)
	a := plug(t, s, 1, "a", 1)
	x := plug(t, s, 2, "x", 3)
	if err := s.AttachVDE(1, vde); err != nil {
		t.Fatal(err)
	}
	if err := s.Capture(1, filepath.Join(t.TempDir(), "vlan1.pcap")); err != nil {
		t.Fatal(err)
	}
	peer := startVDEPlug(t, vde)
	peerMAC := mac{2, 0, 0, 0, 0, 0x99}

	// vde_plug registers with the switch asynchronously: retry the first
	// frame until it is through.
	deadline := time.Now().Add(10 * time.Second)
	for {
		peer.send(frame(broadcast, peerMAC, "hello from vde"))
		if f := a.recv(200 * time.Millisecond); f != nil && string(f[14:]) == "hello from vde" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a frame from vde_plug never reached vlan 1")
		}
	}
	x.expectNothing() // another vlan

	a.send(peerMAC, "hello from vlan 1")
	peer.expect("hello from vlan 1")
	a.send(broadcast, "broadcast on vlan 1")
	peer.expect("broadcast on vlan 1")

	// A port counts a frame just after writing it, so the peer may have
	// it a moment before the count does: look again until it agrees.
	var up PortStats
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		for _, st := range s.Stats() {
			if strings.HasPrefix(st.Name, "vde:") {
				up = st
			}
		}
		if up.Name == "vde:"+vde && up.VLAN == 1 && up.Connected && up.InFrames > 0 && up.OutFrames >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("uplink stats: %+v", up)
		}
	}
}

func TestVDEErrors(t *testing.T) {
	s := newSwitch(t)
	err := s.AttachVDE(1, "/nonexistent/vde")
	if err == nil || !strings.Contains(err.Error(), "attaching vlan 1 to the vde_switch /nonexistent/vde: no vde_switch there") {
		t.Errorf("a missing vde_switch: %v", err)
	}
	// A socket that is not a vde_switch.
	sock, err := s.Attach(1, "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AttachVDE(2, sock); err == nil || !strings.Contains(err.Error(), "is it a vde_switch") {
		t.Errorf("a socket that is not a vde_switch: %v", err)
	}
}
