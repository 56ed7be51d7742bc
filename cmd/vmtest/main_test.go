package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vmtest/vmtest/internal/vmtestbin"
)

// bin is the vmtest binary under test, built by TestMain.
var bin string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "vmtest-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if bin, err = vmtestbin.Build(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}())
}

// vmtest runs the binary with args and returns stdout, stderr and the exit
// status (see inDir).
func vmtest(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	return inDir(t, "", "", env, args...)
}

func TestExecStreamsAndStatus(t *testing.T) {
	out, errs, code := vmtest(t, nil, "exec", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
	if code != 3 || out != "out\n" || !strings.HasSuffix(errs, "err\n") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 3, \"out\\n\", \"err\\n\"", code, out, errs)
	}
}

// TestExecNoSnapshot checks that exec revives its machine from the boot
// snapshot of its shape unless told --no-snapshot, as its console (-v)
// says.
func TestExecNoSnapshot(t *testing.T) {
	vmtest(t, nil, "exec", "--", "true") // saves the snapshot if need be
	for _, c := range []struct {
		flags   []string
		revived bool
	}{{nil, true}, {[]string{"--no-snapshot"}, false}} {
		args := append(append([]string{"exec", "-v"}, c.flags...), "--", "true")
		_, errs, code := vmtest(t, nil, args...)
		if revived := strings.Contains(errs, "revived here from boot snapshot"); code != 0 || revived != c.revived {
			t.Errorf("vmtest %v: exit %d, revived %v; want exit 0, revived %v; console:\n%s", args, code, revived, c.revived, errs)
		}
	}
}

func TestExecSeesHostFiles(t *testing.T) {
	want, err := os.ReadFile("/etc/debian_version")
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code := vmtest(t, nil, "exec", "--", "cat", "/etc/debian_version")
	if code != 0 || out != string(want) {
		t.Fatalf("exit %d, stdout %q (want %q), stderr %s", code, out, want, errs)
	}
}

func TestExecStdinFromPipe(t *testing.T) {
	cmd := exec.Command(bin, "exec", "--", "tr", "a-z", "A-Z")
	cmd.Stdin = strings.NewReader("piped\n")
	out, err := cmd.Output()
	if err != nil || string(out) != "PIPED\n" {
		t.Fatalf("got %q, %v", out, err)
	}
}

func TestExecErrors(t *testing.T) {
	_, errs, code := vmtest(t, nil, "exec", "--", "no-such-command")
	if code != exitNotFound || !strings.Contains(errs, "no-such-command: command not found") {
		t.Errorf("missing command: exit %d, stderr %q", code, errs)
	}
	_, errs, code = vmtest(t, nil, "exec", "--timeout", "1s", "--", "sleep", "60")
	if code != exitTimeout || !strings.Contains(errs, "timed out after 1s") {
		t.Errorf("timeout: exit %d, stderr %q", code, errs)
	}
}

func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"no command", nil, []string{"exec"}, exitUsage, "no command given"},
		{"unknown verb", nil, []string{"exce"}, exitUsage, `unknown command "exce" (did you mean exec?)`},
		{"bad name", nil, []string{"exec", "--name", "Bad_Name", "true"}, exitUsage, "not a valid host name"},
		{"no qemu", []string{"PATH=/nonexistent"}, []string{"exec", "true"}, exitVMFailure, "apt-get install qemu-system-x86"},
		{"no kernel", []string{"VMTEST_KERNEL=/nonexistent/vmlinuz"}, []string{"exec", "true"}, exitVMFailure, "/nonexistent/vmlinuz"},
		{"bad accel", nil, []string{"exec", "--accel", "hvf", "true"}, exitUsage, "vmtest exec: --accel hvf: want auto, kvm or tcg\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := vmtest(t, tc.env, tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, errs, tc.code, tc.want)
			}
		})
	}
}

func TestDoctor(t *testing.T) {
	out, errs, code := vmtest(t, nil, "doctor")
	if code != 0 {
		t.Fatalf("doctor failed (%d): %s %s", code, out, errs)
	}
	for _, want := range []string{"qemu ", "kernel ", "modules ", "vmlinux ", "accel ", "cache ", "snapshots ", "tesseract "} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor does not report %q:\n%s", want, out)
		}
	}
	_, _, code = vmtest(t, []string{"VMTEST_KERNEL=/nonexistent"}, "doctor")
	if code != exitFailure {
		t.Errorf("doctor with no kernel: exit %d, want %d", code, exitFailure)
	}
}

// qemuChildren returns the pids of qemu processes whose parent is pid.
func qemuChildren(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || !strings.Contains(s[:i], "qemu-system") {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && !strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z")
}

// startLong starts `vmtest exec -- sleep 600` and waits until its QEMU runs
// and the command has started (its output says so).
func startLong(t *testing.T) (*exec.Cmd, int, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, "exec", "--", "sh", "-c", "echo running; exec sleep 600")
	var out bytes.Buffer
	cmd.Stdout = &syncWriter{b: &out}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(120 * time.Second)
	for time.Now().Before(deadline) {
		if qs := qemuChildren(cmd.Process.Pid); len(qs) == 1 && strings.Contains(cmd.Stdout.(*syncWriter).String(), "running") {
			return cmd, qs[0], &out
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the machine did not start the command within 120 s")
	return nil, 0, nil
}

func TestSIGKILLLeavesNoQEMU(t *testing.T) {
	cmd, qemu, _ := startLong(t)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for alive(qemu) {
		if time.Now().After(deadline) {
			syscall.Kill(qemu, syscall.SIGKILL)
			t.Fatalf("qemu %d outlived vmtest killed with SIGKILL", qemu)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestInterruptStopsMachineAndCleansUp(t *testing.T) {
	cmd, qemu, _ := startLong(t)
	runDirs := func() []string {
		d, _ := filepath.Glob(filepath.Join(os.TempDir(), "vmtest-*", "pid"))
		var mine []string
		for _, p := range d {
			if b, _ := os.ReadFile(p); string(b) == strconv.Itoa(cmd.Process.Pid) {
				mine = append(mine, filepath.Dir(p))
			}
		}
		return mine
	}
	if len(runDirs()) != 1 {
		t.Fatalf("want one run directory for pid %d, got %v", cmd.Process.Pid, runDirs())
	}
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
		t.Fatalf("after Ctrl-C: %v, want exit %d", err, exitInterrupted)
	}
	if alive(qemu) {
		t.Fatalf("qemu %d still runs after Ctrl-C", qemu)
	}
	if d := runDirs(); len(d) != 0 {
		t.Fatalf("run directory left behind: %v", d)
	}
}

// syncWriter is a bytes.Buffer safe to read while a process writes to it.
type syncWriter struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestExecKeepState(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"exec", "--keep-state", "--name", "keeper", "--"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	if out, code := run("sh", "-c", "echo kept > /root/state"); code != 0 {
		t.Fatalf("first run: exit %d: %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "keeper.qcow2")); err != nil {
		t.Fatalf("no disk kept: %v", err)
	}
	if out, code := run("cat", "/root/state"); code != 0 || out != "kept\n" {
		t.Fatalf("second run: exit %d, %q; want the file written by the first", code, out)
	}
}
