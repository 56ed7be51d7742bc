//go:build linux

package agent

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/vmtest/vmtest/vm/wire"
)

func TestWriteConfigFiles(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(root+"/etc", 0o755)
	os.WriteFile(root+"/etc/issue", []byte("Debian"), 0o600)
	uid, gid := os.Getuid(), os.Getgid()
	files := []wire.File{
		{Path: "/etc/issue", Mode: 0o644, Data: []byte("snippet\n"), Append: true},
		{Path: "/etc/new.conf", Mode: 0o640, Data: []byte("a = 1\n"), Append: true},
		{Path: "/srv/data", Kind: wire.FileDir, Mode: 0o2750, UID: uid, GID: gid},
		{Path: "/srv/data/x", Mode: 0o4755, Data: []byte("#!/bin/sh\n"), UID: uid, GID: gid},
		{Path: "/usr/local/bin/link", Kind: wire.FileSymlink, Data: []byte("/srv/data/x")},
	}
	// Twice, as at a reboot: the same result.
	for range 2 {
		if err := writeConfigFiles(root, files); err != nil {
			t.Fatal(err)
		}
	}
	for path, want := range map[string]string{"/etc/issue": "Debian\nsnippet\n", "/etc/new.conf": "a = 1\n"} {
		if b, _ := os.ReadFile(root + path); string(b) != want {
			t.Errorf("%s: %q, want %q", path, b, want)
		}
	}
	for path, want := range map[string]uint32{"/etc/issue": 0o600, "/etc/new.conf": 0o640, "/srv/data": 0o2750 | syscall.S_IFDIR, "/srv/data/x": 0o4755 | syscall.S_IFREG} {
		var st syscall.Stat_t
		if err := syscall.Stat(root+path, &st); err != nil || st.Mode&^uint32(syscall.S_IFREG) != want&^uint32(syscall.S_IFREG) {
			t.Errorf("%s: mode %o, %v; want %o", path, st.Mode, err, want)
		}
	}
	if target, err := os.Readlink(filepath.Join(root, "/usr/local/bin/link")); err != nil || target != "/srv/data/x" {
		t.Errorf("link: %q %v", target, err)
	}
}
