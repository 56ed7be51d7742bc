package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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
