//go:build linux

package agent

import (
	"os"
	"testing"
)

func TestPrepareRun(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(root+"/usr/lib/tmpfiles.d", 0o755)
	os.MkdirAll(root+"/etc/tmpfiles.d", 0o755)
	os.MkdirAll(root+"/run", 0o755)
	os.WriteFile(root+"/usr/lib/tmpfiles.d/a.conf", []byte("# comment\nd /run/lock 1777 root root -\nd /run/db 2750 0 0 - -\n"+
		"f+! /run/nologin 0644 - - - \"go away\"\nf /run/motd 0600 - - - hello there\nL /run/shm - - - - /dev/shm\n"+
		"d /var/elsewhere 0755 - - -\nd /run/%m 0755 - - -\nz /run/lock 0700\n"), 0o644)
	os.WriteFile(root+"/usr/lib/tmpfiles.d/b.conf", []byte("d /run/overridden 0755 - - -\n"), 0o644)
	os.WriteFile(root+"/etc/tmpfiles.d/b.conf", []byte("d /run/mine 0700 - - -\n"), 0o644)
	prepareRun(root)
	for p, want := range map[string]os.FileMode{
		"/run/lock": os.ModeDir | os.ModeSticky | 0o777, "/run/db": os.ModeDir | os.ModeSetgid | 0o750,
		"/run/motd": 0o600, "/run/mine": os.ModeDir | 0o700,
	} {
		st, err := os.Lstat(root + p)
		if err != nil || st.Mode() != want {
			t.Errorf("%s: %v %v, want %v", p, st.Mode(), err, want)
		}
	}
	if b, _ := os.ReadFile(root + "/run/motd"); string(b) != "hello there" {
		t.Errorf("/run/motd: %q", b)
	}
	if target, _ := os.Readlink(root + "/run/shm"); target != "/dev/shm" {
		t.Errorf("/run/shm -> %q", target)
	}
	for _, p := range []string{"/run/nologin", "/var/elsewhere", "/run/overridden", "/run/%m"} {
		if _, err := os.Lstat(root + p); err == nil {
			t.Errorf("%s was made", p)
		}
	}
}
