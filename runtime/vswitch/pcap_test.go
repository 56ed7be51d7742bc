package vswitch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tcpdump reads a capture file with tcpdump -r and returns its lines.
func tcpdump(t *testing.T, path string) []string {
	t.Helper()
	out, err := exec.Command("tcpdump", "-r", path, "-nn", "-e").CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump -r %s: %v\n%s", path, err, out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && !strings.HasPrefix(l, "reading from file") && !strings.HasPrefix(l, "\t") {
			lines = append(lines, l)
		}
	}
	return lines
}

func TestCaptureIsReadByTcpdump(t *testing.T) {
	s := newSwitch(t)
	dir := t.TempDir()
	a, b := plug(t, s, 1, "a", 1), plug(t, s, 1, "b", 2)
	x := plug(t, s, 2, "x", 3)
	p1, p2 := filepath.Join(dir, "vlan1.pcap"), filepath.Join(dir, "vlan2.pcap")
	if err := s.Capture(1, p1); err != nil {
		t.Fatal(err)
	}
	if err := s.Capture(2, p2); err != nil {
		t.Fatal(err)
	}
	if err := s.Capture(1, p1); err != nil { // again: no effect
		t.Fatal(err)
	}
	a.send(broadcast, "one")
	b.expect("one")
	b.send(a.mac, "two")
	a.expect("two")
	s.Block("b", true)
	b.send(a.mac, "blocked, not captured")
	for deadline := time.Now().Add(5 * time.Second); statsOf(t, s, "b").Filtered == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the switch did not filter the blocked frame")
		}
	}
	s.Block("b", false)

	// The file follows the network within a tenth of a second.
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines := tcpdump(t, p1)
		if len(lines) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("vlan1.pcap during the run: %q, want 2 frames", lines)
		}
		time.Sleep(20 * time.Millisecond)
	}
	x.send(broadcast, "on vlan 2")
	for deadline := time.Now().Add(5 * time.Second); statsOf(t, s, "x").InFrames == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the switch did not read x's frame")
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	lines := tcpdump(t, p1)
	if len(lines) != 2 ||
		!strings.Contains(lines[0], "02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype Unknown (0x88b5), length 17") ||
		!strings.Contains(lines[1], "02:00:00:00:00:02 > 02:00:00:00:00:01") {
		t.Errorf("vlan1.pcap:\n%s", strings.Join(lines, "\n"))
	}
	if lines := tcpdump(t, p2); len(lines) != 1 || !strings.Contains(lines[0], "02:00:00:00:00:03 >") {
		t.Errorf("vlan2.pcap:\n%s", strings.Join(lines, "\n"))
	}
}

func TestCaptureErrors(t *testing.T) {
	s := newSwitch(t)
	if err := s.Capture(1, "/nonexistent/dir/vlan1.pcap"); err == nil || !strings.Contains(err.Error(), "capturing vlan 1:") {
		t.Errorf("capture into a missing directory: %v", err)
	}
	// A capture of a vlan without machines is an empty, valid file.
	p := filepath.Join(t.TempDir(), "vlan9.pcap")
	if err := s.Capture(9, p); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if lines := tcpdump(t, p); len(lines) != 0 {
		t.Errorf("empty capture: %q", lines)
	}
	if fi, err := os.Stat(p); err != nil || fi.Size() != 24 {
		t.Errorf("empty capture: %v, %v; want a 24-byte header", fi, err)
	}
	if err := s.Capture(1, p); err == nil {
		t.Error("Capture on a closed switch succeeded")
	}
}
