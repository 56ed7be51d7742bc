//go:build linux

package agent

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/vm/wire"
)

// TestHidePaths hides files and directories of a lower layer in an
// upper one, as the overlay reads them: whiteouts, opaque directories
// with the lower one's mode and owner, directories above them as the
// lower layer has them; what the guest wrote there itself stays; links
// are not followed. (Whiteouts and trusted xattrs need root, which the
// agent is.)
func TestHidePaths(t *testing.T) {
	lower, upper, outside := t.TempDir(), t.TempDir(), t.TempDir()
	for _, d := range []string{"etc", "home/alice/.ssh", "home/bob/.gnupg", "srv"} {
		os.MkdirAll(filepath.Join(lower, d), 0o755)
	}
	os.WriteFile(filepath.Join(lower, "etc/shadow"), []byte("root:$6$secret"), 0o640)
	os.WriteFile(filepath.Join(lower, "home/alice/.ssh/id_rsa"), []byte("key"), 0o600)
	os.Chmod(filepath.Join(lower, "home/alice"), 0o750)
	os.Chown(filepath.Join(lower, "home/alice"), 1000, 1000)
	os.Chmod(filepath.Join(lower, "home/alice/.ssh"), 0o700)
	os.Chown(filepath.Join(lower, "home/alice/.ssh"), 1000, 1000)
	os.WriteFile(filepath.Join(lower, "home/alice/.netrc"), []byte("password"), 0o600)
	os.MkdirAll(filepath.Join(lower, "home/carol/.aws"), 0o700)
	os.Chmod(filepath.Join(lower, "home/carol"), 0o710)
	os.Chown(filepath.Join(lower, "home/carol"), 1001, 1001)
	os.Symlink(outside, filepath.Join(lower, "srv/link")) // a link in the lower layer: not followed
	os.WriteFile(filepath.Join(outside, "x"), []byte("x"), 0o600)
	// What the guest wrote at an earlier boot: its own .netrc, and bob's
	// .gnupg is a file of its own.
	os.MkdirAll(filepath.Join(upper, "home/alice"), 0o750)
	os.WriteFile(filepath.Join(upper, "home/alice/.netrc"), []byte("the guest's"), 0o600)
	os.MkdirAll(filepath.Join(upper, "home/bob"), 0o755)
	os.WriteFile(filepath.Join(upper, "home/bob/.gnupg"), []byte("the guest's"), 0o600)

	hidden := []wire.Hidden{
		{Path: "/etc/shadow"}, {Path: "/home/alice/.ssh", Dir: true}, {Path: "/home/alice/.netrc"},
		{Path: "/home/bob/.gnupg", Dir: true}, {Path: "/srv/link/x"}, {Path: "/missing/file"},
		{Path: "/home/carol/.aws", Dir: true},
	}
	for range 2 { // at every boot
		if err := hidePaths(lower, upper, hidden); err != nil {
			t.Fatal(err)
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(upper, "etc/shadow"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("etc/shadow: mode %o rdev %d, %v; want a whiteout", st.Mode, st.Rdev, err)
	}
	for p, want := range map[string]struct {
		mode uint32
		uid  uint32
	}{"home/carol": {0o710, 1001}, "home/alice/.ssh": {0o700, 1000}, "etc": {0o755, 0}} {
		if err := unix.Lstat(filepath.Join(upper, p), &st); err != nil || st.Mode&0o7777 != want.mode || st.Uid != want.uid {
			t.Errorf("%s: mode %o uid %d, %v; want %o, %d", p, st.Mode&0o7777, st.Uid, err, want.mode, want.uid)
		}
	}
	buf := make([]byte, 8)
	if n, err := unix.Getxattr(filepath.Join(upper, "home/alice/.ssh"), "trusted.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("home/alice/.ssh: opaque %q, %v", buf[:n], err)
	}
	if entries, _ := os.ReadDir(filepath.Join(upper, "home/alice/.ssh")); len(entries) != 0 {
		t.Errorf("home/alice/.ssh holds %v", entries)
	}
	for _, p := range []string{"home/alice/.netrc", "home/bob/.gnupg"} {
		if b, err := os.ReadFile(filepath.Join(upper, p)); err != nil || string(b) != "the guest's" {
			t.Errorf("%s: %q, %v; want the guest's own, untouched", p, b, err)
		}
	}
	for _, p := range []string{"srv/link", "srv/link/x", "missing"} {
		if _, err := os.Lstat(filepath.Join(upper, p)); err == nil {
			t.Errorf("%s made in the upper layer", p)
		}
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Errorf("outside: %v", entries)
	}
}
