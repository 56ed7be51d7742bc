package tsc

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestKHz compares the measure with the host kernel's own idea of the
// CPU's speed (which on a host with a constant-rate counter is near it)
// and checks that the second call reads the cache.
func TestKHz(t *testing.T) {
	dir := t.TempDir()
	n, err := KHz(dir)
	if err != nil {
		t.Fatalf("%v (this host's virtual machines under TCG would keep their own, possibly wrong, calibration)", err)
	}
	if m, err := KHz(dir); err != nil || m != n {
		t.Errorf("from the cache: %d %v, want %d", m, err, n)
	}
	b, _ := os.ReadFile(dir + "/tsc-khz")
	if !strings.HasSuffix(strings.TrimSpace(string(b)), " "+strconv.Itoa(n)) {
		t.Errorf("cache file %q", b)
	}
	if n < 500_000 || n > 10_000_000 {
		t.Errorf("%d kHz is not a plausible counter frequency", n)
	}
	t.Logf("time stamp counter: %d kHz", n)
}

// TestKHzTemporaryFile: the cache file is written through a temporary
// file of a name of its own, so a link someone put at the name of the
// cache file plus .tmp does not make vmtest write where it leads.
func TestKHzTemporaryFile(t *testing.T) {
	dir, victim := t.TempDir(), filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("untouched\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "tsc-khz.tmp")); err != nil {
		t.Fatal(err)
	}
	if _, err := KHz(dir); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "untouched\n" {
		t.Errorf("written through the link: %q", b)
	}
}
