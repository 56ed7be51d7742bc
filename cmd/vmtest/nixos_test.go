package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// runPass runs the test files with vmtest run (-j 2) and fails unless
// every one passed; it returns the output directory.
func runPass(t *testing.T, files ...string) string {
	t.Helper()
	out := t.TempDir()
	stdout, stderr, code := vmtest(t, []string{"NO_COLOR="}, append([]string{"run", "-j", "2", "--out", out}, files...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	return out
}

// TestRunBackground: a process a command leaves in the background lives
// on after the command returned, and what it writes then is in the
// machine's console log (the NixOS driver's behaviour).
func TestRunBackground(t *testing.T) {
	out := runPass(t, "testdata/run/background.star")
	con, err := os.ReadFile(filepath.Join(out, "background", "m.console.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.ReplaceAll(string(con), "\r", ""), "\n")
	for _, want := range []string{"late", "acquired"} {
		if !slices.Contains(lines, want) {
			t.Errorf("console log lacks %q:\n%s", want, con)
		}
	}
}

// TestRunNetworkDeclarations boots the networks routers and IPv6 tests
// need, declared without boot jobs: two addresses of each family on one
// vlan with an MTU and a kernel parameter; a router between two vlans
// with routes and default gateways; a NIC configured by router
// advertisements alone; an extra disk exported over NFS, and a loop
// mount without modprobe.
func TestRunNetworkDeclarations(t *testing.T) {
	runPass(t, "testdata/net/addresses.star", "testdata/net/router.star", "testdata/net/slaac.star", "testdata/net/disks.star")
}

// TestRunNixOSDriverAPI runs the NixOS driver's methods and globals that
// vmtest has under their names (testdata/run/nixapi.star) on real
// machines. The build step's input is new each time, so the first build
// runs and the second is cached.
func TestRunNixOSDriverAPI(t *testing.T) {
	dir := t.TempDir()
	script, err := os.ReadFile("testdata/run/nixapi.star")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "nixapi.star"), script, 0o644)
	os.WriteFile(filepath.Join(dir, "input.txt"), []byte(fmt.Sprintf("made for %s at %d\n", t.Name(), time.Now().UnixNano())), 0o644)
	out := runPass(t, filepath.Join(dir, "nixapi.star"))
	log, _ := os.ReadFile(filepath.Join(out, "nixapi", "log.txt"))
	for _, want := range []string{"build fixture: made in ", "build fixture: cached, ", "build fixture> building", "tty contents:\n    hello from tty2"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("log.txt lacks %q:\n%s", want, log)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "nixapi", "copied", "locked")); err != nil {
		t.Error(err)
	}
}

// TestRunSwitch switches a running machine to a variant and back, across
// a reboot (testdata/run/switch.star).
func TestRunSwitch(t *testing.T) {
	runPass(t, "testdata/run/switch.star")
}
