package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// freePort returns a TCP port of 127.0.0.1 that nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// vdeSwitch runs a vde_switch for the test and returns its directory.
func vdeSwitch(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "vde")
	cmd := exec.Command("vde_switch", "-s", dir)
	stdin, err := cmd.StdinPipe() // it stops at the end of its input
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("vde_switch (Debian package vde2): %v", err)
	}
	t.Cleanup(func() {
		stdin.Close()
		time.AfterFunc(5*time.Second, func() { cmd.Process.Kill() })
		cmd.Wait()
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

// httpGet fetches url from the host with curl, retrying until deadline
// or until stop is closed.
func httpGet(url string, deadline time.Time, stop <-chan struct{}) (string, error) {
	for {
		select {
		case <-stop:
			return "", fmt.Errorf("the run ended")
		default:
		}
		out, err := exec.Command("curl", "--fail", "--silent", "--show-error", "--max-time", "10", url).CombinedOutput()
		if err == nil {
			return string(out), nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("curl %s: %v: %s", url, err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// tcpdumpLines reads a capture with tcpdump -r.
func tcpdumpLines(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("tcpdump", "-r", path, "-nn").CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump -r %s: %v\n%s", path, err, out)
	}
	return string(out)
}

// TestRunNetwork runs testdata/run/net.star with --pcap: faults, links
// and a vde_switch seen from inside the guests. While it waits, the test
// fetches a page from the host through its two forwarded ports, and runs
// another vmtest at once: isolated.star, whose machine has the address of
// one of net.star's and must not reach the other. Then it lets net.star
// finish, and reads the captures with tcpdump.
func TestRunNetwork(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	forward, dynamic := freePort(t), freePort(t)
	for dynamic == forward {
		dynamic = freePort(t)
	}
	src, err := os.ReadFile("testdata/run/net.star")
	if err != nil {
		t.Fatal(err)
	}
	script := strings.NewReplacer("@VDE@", vdeSwitch(t), "@FORWARD@", fmt.Sprint(forward), "@DYNAMIC@", fmt.Sprint(dynamic)).Replace(string(src))
	file := filepath.Join(dir, "net.star")
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "run", "--pcap", "--timeout", "12m", "--out", out, file)
	var stdout syncWriter
	stdout.b = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var runErr error
	go func() {
		runErr = cmd.Wait()
		close(exited)
	}()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()

	// The forwards, reached from the host while the script waits.
	deadline := time.Now().Add(8 * time.Minute)
	for _, port := range []int{forward, dynamic} {
		body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/hello.txt", port), deadline, exited)
		if err != nil || body != "forwarded\n" {
			t.Fatalf("GET through host port %d: %q, %v\n%s", port, body, err, stdout.String())
		}
	}

	// Another run at once, beside this one.
	out2 := filepath.Join(dir, "out2")
	so, se, code := vmtest(t, nil, "run", "--timeout", "8m", "--out", out2, "testdata/run/isolated.star")
	if code != 0 || !strings.Contains(so, "PASS isolated (") {
		t.Errorf("the run beside net.star: exit %d\n%s%s", code, so, se)
	}

	httpGet(fmt.Sprintf("http://127.0.0.1:%d/done", forward), time.Now().Add(time.Minute), exited) // a 404: retried until the run, seeing the request, ends
	<-exited
	log := stdout.String()
	if runErr != nil || !strings.Contains(log, "PASS net (") {
		t.Fatalf("vmtest run net.star: %v\n%s", runErr, log)
	}
	for _, want := range []string{
		"capturing vlan 1 to ", "vlan 1 is bridged to the vde_switch ",
		"b: blocked: no frame reaches it or leaves it", "partition: a b | c | v", "healed",
		"link a <-> b: latency 100ms", "link a <-> c: loss 100%", "link a <-> b: rate 1mbit",
		fmt.Sprintf("a: host port 127.0.0.1:%d forwards to its port 8000", dynamic),
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the log of net.star lacks %q", want)
		}
	}
	t.Logf("net.star:\n%s", log)

	// The captures: net.star's with the pings between a and b, and the
	// frames from the machine behind the vde_switch; isolated.star's with
	// the questions nobody answered.
	dump := tcpdumpLines(t, filepath.Join(out, "net", "net", "vlan1.pcap"))
	for _, want := range []string{
		"IP6 2001:db8:1::1 > 2001:db8:1::2: ICMP6, echo request",
		"IP6 2001:db8:1::2 > 2001:db8:1::1: ICMP6, echo reply",
		"ARP, Request who-has 192.168.1.200 tell 192.168.1.1",
		"IP 192.168.1.200 > 192.168.1.2: ICMP echo request",
		"IP 192.168.1.2 > 192.168.1.200: ICMP echo reply",
	} {
		if !strings.Contains(dump, want) {
			t.Errorf("net/vlan1.pcap of net.star lacks %q:\n%s", want, head(dump, 40))
		}
	}
	dump = tcpdumpLines(t, filepath.Join(out2, "isolated", "net", "vlan1.pcap"))
	if !strings.Contains(dump, "ARP, Request who-has 192.168.1.2 tell 192.168.1.1") || strings.Contains(dump, "is-at") || strings.Contains(dump, "ICMP echo reply") {
		t.Errorf("net/vlan1.pcap of isolated.star: want unanswered ARP requests for 192.168.1.2:\n%s", head(dump, 40))
	}
}

// TestRunProxyExample runs examples/proxy.star, the NixOS proxy test.
func TestRunProxyExample(t *testing.T) {
	stdout, stderr, code := vmtest(t, nil, "run", "--timeout", "10m", "--out", t.TempDir(), "../../examples/proxy.star")
	if code != 0 || !strings.Contains(stdout, "PASS proxy (") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
}

// head returns the first n lines of s.
func head(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "")
}

// TestRunForwardToBusyPort: a forward to a host port something listens on
// is an error naming the port, before anything boots.
func TestRunForwardToBusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	file := filepath.Join(dir, "busy.star")
	os.WriteFile(file, []byte(fmt.Sprintf("m = machine(\"m\", forward_ports = {%d: 80})\nstart_all()\n", port)), 0o644)
	stdout, stderr, code := vmtest(t, nil, "run", "--out", filepath.Join(dir, "out"), file)
	want := fmt.Sprintf("busy.star:2:10: start_all: machine m: forward_ports: host port %d is in use: something on this host listens on 127.0.0.1:%d", port, port)
	if code != exitFailure || !strings.Contains(stdout, want) {
		t.Fatalf("exit %d, want %d and %q in:\n%s%s", code, exitFailure, want, stdout, stderr)
	}
	if strings.Contains(stdout, "booting") {
		t.Errorf("a machine booted:\n%s", stdout)
	}
}
