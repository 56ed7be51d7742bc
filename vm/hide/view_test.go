//go:build linux

package hide

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vmtest/vmtest/internal/vmtestbin"
	"github.com/vmtest/vmtest/vm/wire"
)

// TestView starts a program (a shell, for QEMU) in a view through the
// vmtest binary, as a machine's QEMU is started: in the view, hidden
// paths are empty placeholders with their mode and owner, and /proc,
// /sys, /dev, /run and /tmp are empty; the program itself still sees
// the host as it is, and nothing changes outside its namespace.
func TestView(t *testing.T) {
	bin, err := vmtestbin.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		// QEMU exports / as it is: the guests hide what they hide.
		if err := Probe(bin); err == nil || err.Error() != "vmtest does not run as root" {
			t.Fatalf("Probe as uid %d: %v", os.Geteuid(), err)
		}
		return
	}
	if err := Probe(bin); err != nil {
		t.Fatal(err)
	}
	// Run by hand, in the host's mount namespace, the wrapper refuses.
	if out, err := exec.Command(bin, WrapperArg, "probe").CombinedOutput(); err == nil || !strings.Contains(string(out), "not in a mount namespace of its own") {
		t.Errorf("the wrapper in the host's namespace: %v: %s", err, out)
	}
	// Not under /tmp, which the view covers whole.
	host, err := os.MkdirTemp("/var/tmp", "vmtest-view-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(host)
	os.WriteFile(filepath.Join(host, "secret"), []byte("SECRET\n"), 0o640)
	os.MkdirAll(filepath.Join(host, "keys"), 0o710)
	os.Chown(filepath.Join(host, "keys"), 1000, 1000)
	os.WriteFile(filepath.Join(host, "keys", "id"), []byte("KEY\n"), 0o600)
	os.WriteFile(filepath.Join(host, "visible"), []byte("VISIBLE\n"), 0o644)

	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	os.Mkdir(root, 0o700)
	v := View{Root: root, Scratch: dir, Hide: []wire.Hidden{{Path: host + "/secret"}, {Path: host + "/keys", Dir: true}, {Path: host + "/gone"}}}
	script := `cd "$1"; h=$2
		echo "secret: $(wc -c < .$h/secret) $(stat -c %a .$h/secret)"
		echo "keys: $(ls -A .$h/keys | wc -l) $(stat -c %a:%u .$h/keys)"
		echo "visible: $(cat .$h/visible)"
		for d in proc sys dev run tmp; do echo "$d: $(ls -A $d | wc -l)"; done
		echo "host: $(cat $h/secret)"`
	cmd, err := Command(bin, "/bin/sh", []string{"-c", script, "sh", root, host}, v)
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL // as the machines' QEMU has
	cmd.SysProcAttr.Setpgid = true
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := "secret: 0 640\nkeys: 0 710:1000\nvisible: VISIBLE\nproc: 0\nsys: 0\ndev: 0\nrun: 0\ntmp: 0\nhost: SECRET\n"
	if string(out) != want {
		t.Errorf("in the view:\n%s\nwant:\n%s", out, want)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), root) {
		t.Errorf("the view is mounted outside its namespace")
	}
}
