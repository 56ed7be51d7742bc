package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEscapeCopyFromVM copies guest directories whose archives lead
// outside the output directory, made by the guest's own tar and by a
// hostile one: each copy fails and says why, and nothing is written
// outside the copied directory.
func TestEscapeCopyFromVM(t *testing.T) {
	out := t.TempDir()
	stdout, stderr, code := vmtest(t, []string{"NO_COLOR="}, "run", "-j", "2", "--out", out, "testdata/escape/copytar.star", "testdata/escape/copylink.star")
	if code != exitFailure {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, exitFailure, stdout, stderr)
	}
	for _, want := range []string{
		"testdata/escape/copytar.star:32:15: machine.copy_from_vm: m: copying /root/evil: symbolic link evil/link -> " + out + " leads outside the directory",
		"testdata/escape/copylink.star:11:15: machine.copy_from_vm: m: copying /srv/site: symbolic link site/etc -> /etc leads outside the directory",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if _, err := os.Lstat(filepath.Join(out, "pwned")); err == nil {
		t.Errorf("the guest wrote %s", filepath.Join(out, "pwned"))
	}
	site := filepath.Join(out, "copylink", "site")
	for name, want := range map[string]string{"v2/index.html": "page\n", "index.html": "page\n", "current/index.html": "page\n"} {
		if got, err := os.ReadFile(filepath.Join(site, name)); err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", name, got, err, want)
		}
	}
	if target, err := os.Readlink(filepath.Join(site, "current")); err != nil || target != "v2" {
		t.Errorf("site/current -> %q, %v; want v2", target, err)
	}
	if _, err := os.Lstat(filepath.Join(out, "copylink", "again", "site", "etc")); err == nil {
		t.Errorf("the link to /etc was made on the host")
	}
}
