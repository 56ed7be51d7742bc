package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	vmcache "github.com/vmtest/vmtest/vm/cache"
	"github.com/vmtest/vmtest/vm/hide"
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

// TestEscapeHiddenPaths runs machines with a home of secrets (a .ssh
// key, a .netrc, a path $VMTEST_HIDE names) on real guests: they are
// absent or empty in the guests, /etc/shadow has every account locked,
// sshd has host keys of its own; what a machine shares back it reads.
// When vmtest runs as root, the raw 9p export has them emptied too.
func TestEscapeHiddenPaths(t *testing.T) {
	// Not under /tmp: the guests have a /tmp of their own.
	home, err := os.MkdirTemp("/var/tmp", "vmtest-home-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(home)
	for name, data := range map[string]string{".ssh/id_test": "SECRET KEY\n", ".netrc": "machine example password SECRET\n", "extra": "SECRET\n", "visible": "VISIBLE\n"} {
		os.MkdirAll(filepath.Join(home, filepath.Dir(name)), 0o700)
		if err := os.WriteFile(filepath.Join(home, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hostKey, err := os.ReadFile("/etc/ssh/ssh_host_ed25519_key.pub")
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := os.ReadFile("testdata/escape/hidden.star.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	raw := "# vmtest does not run as root: QEMU exports / as it is"
	if os.Geteuid() == 0 {
		raw = `subtest("the raw export", raw_export)`
	}
	star := filepath.Join(t.TempDir(), "hidden.star")
	src := strings.NewReplacer(`"HOME"`, `"`+home+`"`, "HOSTKEY", strings.TrimSpace(string(hostKey))+`\n`, "RAW", raw).Replace(string(tmpl))
	if err := os.WriteFile(star, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	// The cache as it is without the new HOME: kernels, snapshots.
	cache, err := vmcache.Dir()
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := vmtest(t, []string{"HOME=" + home, vmcache.EnvDir + "=" + cache, hide.EnvHide + "=" + home + "/extra"}, "run", "--out", t.TempDir(), star)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestEscapeUserNet: a machine's eth0 reaches nothing on the host unless
// it has internet = True; then it reaches the host's loopback services
// through 10.0.2.2, which the log warns about.
func TestEscapeUserNet(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "the host's loopback\n") })}
	go srv.Serve(l)
	defer srv.Close()
	tmpl, err := os.ReadFile("testdata/escape/usernet.star.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	star := filepath.Join(t.TempDir(), "usernet.star")
	if err := os.WriteFile(star, bytes.ReplaceAll(tmpl, []byte("PORT"), []byte(strconv.Itoa(l.Addr().(*net.TCPAddr).Port))), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := vmtest(t, []string{"NO_COLOR="}, "run", "--out", t.TempDir(), star)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if want := "warning: machine i has internet = True: it reaches this host's loopback services (127.0.0.1) at 10.0.2.2, and whatever the host reaches; see Trust model in SPEC.md\n"; strings.Count(stdout, want) != 1 {
		t.Errorf("output lacks the warning once, %q:\n%s", want, stdout)
	}
}
