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

// TestWriteConfigFilesLinks writes files over symbolic links, in the
// path and among its parents, some absolute, some leading outside the
// root: every path resolves inside the root, a link at the path itself is
// replaced, and nothing outside the root changes.
func TestWriteConfigFilesLinks(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(outside, "host.conf"), []byte("the host's\n"), 0o644)
	// Debian's nginx: sites-enabled/default is an absolute link.
	must(os.MkdirAll(root+"/etc/nginx/sites-available", 0o755))
	must(os.MkdirAll(root+"/etc/nginx/sites-enabled", 0o755))
	must(os.WriteFile(root+"/etc/nginx/sites-available/default", []byte("debian's\n"), 0o644))
	must(os.Symlink("/etc/nginx/sites-available/default", root+"/etc/nginx/sites-enabled/default"))
	// Links that lead outside the root, if followed on the host.
	must(os.Symlink(outside, root+"/etc/abs"))                 // a parent, absolute
	must(os.MkdirAll(root+outside, 0o755))                     // where it leads in the root
	must(os.Symlink("../../../../../..", root+"/etc/up"))      // a parent, relative
	must(os.Symlink(outside+"/host.conf", root+"/etc/a.conf")) // the path, to append to
	must(os.Symlink(outside+"/host.conf", root+"/etc/b.conf")) // the path, to replace
	must(os.Symlink(outside, root+"/etc/dir"))                 // the path, to make a directory
	must(os.Symlink("nginx/sites-available/default", root+"/etc/c.conf"))
	files := []wire.File{
		{Path: "/etc/nginx/sites-enabled/default", Mode: 0o644, Data: []byte("server {}\n")},
		{Path: "/etc/abs/x", Mode: 0o644, Data: []byte("x\n")},
		{Path: "/etc/up/y", Mode: 0o644, Data: []byte("y\n")},
		{Path: "/etc/a.conf", Mode: 0o644, Data: []byte("appended\n"), Append: true},
		{Path: "/etc/b.conf", Mode: 0o600, Data: []byte("replaced\n")},
		{Path: "/etc/dir", Kind: wire.FileDir, Mode: 0o700},
		{Path: "/etc/c.conf", Mode: 0o644, Data: []byte("more\n"), Append: true},
	}
	for range 2 { // as at a reboot
		must(writeConfigFiles(root, files))
	}
	for p, want := range map[string]string{
		"/etc/nginx/sites-enabled/default":   "server {}\n",
		"/etc/nginx/sites-available/default": "debian's\n",
		outside + "/x":                       "x\n", // inside the root: the link resolved there
		"/y":                                 "y\n", // .. stops at the root
		"/etc/a.conf":                        "appended\n",
		"/etc/b.conf":                        "replaced\n",
		"/etc/c.conf":                        "debian's\nmore\n",
	} {
		if got, err := os.ReadFile(filepath.Join(root, p)); err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", p, got, err, want)
		}
	}
	for _, p := range []string{"/etc/nginx/sites-enabled/default", "/etc/a.conf", "/etc/b.conf", "/etc/c.conf"} {
		if fi, err := os.Lstat(filepath.Join(root, p)); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("%s: %v, %v; want the link replaced by a file", p, fi.Mode(), err)
		}
	}
	if fi, err := os.Lstat(root + "/etc/dir"); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("/etc/dir: %v, %v; want a directory, mode 0700", fi.Mode(), err)
	}
	// A parent that is a link to nothing in the root.
	must(os.Symlink("/nowhere", root+"/etc/dangling"))
	err := writeConfigFiles(root, []wire.File{{Path: "/etc/dangling/z", Data: []byte("z")}})
	if err == nil || err.Error() != "writing /etc/dangling/z: /etc/dangling is not a directory in the machine's root: no such file or directory" {
		t.Errorf("through a link to nothing: %v", err)
	}
	entries, _ := os.ReadDir(outside)
	if got, _ := os.ReadFile(outside + "/host.conf"); len(entries) != 1 || string(got) != "the host's\n" {
		t.Errorf("outside the root: %v, host.conf %q", entries, got)
	}
}
