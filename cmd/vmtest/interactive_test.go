package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Waits in a terminal: for a machine to boot (under load, software
// emulation is slow), and for anything else.
const (
	bootWait  = 5 * time.Minute
	quickWait = time.Minute
)

// writeFile writes a test file into dir and returns its name.
func writeFile(t *testing.T, dir, name, src string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestReplInTerminal drives vmtest repl in a real terminal, with one
// machine that boots at its first use: completion, errors that leave the
// session going, a command and its output, Ctrl-C during a long wait,
// multi-line input, test_script(), a shell in the guest left by exit and
// by Ctrl-], Ctrl-D, and the history file.
func TestReplInTerminal(t *testing.T) {
	dir := t.TempDir()
	state := t.TempDir()
	writeFile(t, dir, "t.star", `load("@stdlib//assert.star", "assert_eq")
m = machine("m", memory = 256)
start_all()
m.succeed("echo from-the-script > /root/script-ran")
`)
	term := newTerminal(t, dir, []string{"XDG_STATE_HOME=" + state, "NO_COLOR=1"}, shellWord(bin)+" repl --out out t.star")
	prompts := 1
	prompt := func(timeout time.Duration) string {
		t.Helper()
		return term.waitFor(">>> ", prompts, timeout)
	}
	next := func(text string, timeout time.Duration) string {
		t.Helper()
		term.line(text)
		prompts++
		return prompt(timeout)
	}
	term.waitFor("declares machine m", 1, quickWait)
	prompt(quickWait)

	// Completion of a method and of a global; Ctrl-C drops the line.
	term.typeText("m.wait_for_cl")
	term.keys("Tab")
	term.waitFor(">>> m.wait_for_closed_port(", 1, quickWait)
	term.keys("C-c")
	prompts++
	prompt(quickWait)
	term.typeText("test_scr")
	term.keys("Tab")
	term.waitFor(">>> test_script(", 1, quickWait)
	term.keys("C-c")
	prompts++
	prompt(quickWait)

	// Statements that fail: the session goes on. Nothing has booted.
	next("1 // 0", quickWait)
	term.waitFor("<stdin>:1:3: floored division by zero", 1, quickWait)
	next("m.succed", quickWait)
	term.waitFor("machine has no .succed field or method (did you mean .succeed?)", 1, quickWait)
	if s := term.screen(); strings.Contains(s, "m: booting") {
		t.Fatalf("a machine booted before it was used:\n%s", s)
	}

	// A command boots the machine; its output is the value shown.
	next(`m.succeed("echo hi-$((6*7))")`, bootWait)
	term.waitFor(`"hi-42\n"`, 1, quickWait)

	// Ctrl-C cancels a long wait, not the network.
	term.line(`m.wait_until_succeeds("false", timeout = 600)`)
	term.waitFor(`waiting until "false" succeeds`, 1, quickWait)
	term.keys("C-c")
	prompts++
	prompt(quickWait)
	term.waitFor("cancelled: interrupted (Ctrl-C)", 1, quickWait)

	// A block over several lines.
	term.line("for i in range(2):")
	term.line(`    print("loop", i * 11)`)
	next("", quickWait)
	term.waitFor("loop 11", 1, quickWait)

	// The file's script, on the running machine.
	next("test_script()", bootWait)
	next(`m.succeed("cat /root/script-ran")`, bootWait)
	term.waitFor(`"from-the-script\n"`, 1, quickWait)

	// A root shell in the guest, left with exit, then with Ctrl-].
	term.line(`m.shell()`)
	term.waitFor("shell (exit or Ctrl-] to return)", 1, quickWait)
	term.line("echo in-guest-$((6*7)) $(id -u) $(tty); exit")
	term.waitFor("in-guest-42 0 /dev/pts/", 1, bootWait)
	term.waitFor("shell ended (exit status 0)", 1, bootWait)
	prompts++
	prompt(quickWait)
	term.line(`m.shell()`)
	term.waitFor("shell (exit or Ctrl-] to return)", 2, quickWait)
	term.keys("C-]")
	term.waitFor("shell ended (killed by SIGHUP)", 1, bootWait)
	prompts++
	prompt(quickWait)
	next(`"back" + "!"`, quickWait)
	term.waitFor(`"back!"`, 1, quickWait)

	// Ctrl-D stops the machine and exits.
	term.keys("C-d")
	s := term.waitFor(exitMark, 1, bootWait)
	if !strings.Contains(s, exitMark+"0") || !strings.Contains(s, "stopping the machines") {
		t.Fatalf("after Ctrl-D:\n%s", s)
	}
	history, err := os.ReadFile(filepath.Join(state, "vmtest", "history"))
	if err != nil || !strings.Contains(string(history), `m.succeed("echo hi-$((6*7))")`) {
		t.Errorf("history: %v\n%s", err, history)
	}
}

// TestRunInteractive fails a test with run -i: the prompt opens on the
// network as the failure left it.
func TestRunInteractive(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "fail.star", `m = machine("m", memory = 256)
m.succeed("echo left-behind > /root/x")
m.succeed("false")
`)
	term := newTerminal(t, dir, []string{"XDG_STATE_HOME=" + t.TempDir(), "NO_COLOR=1"}, shellWord(bin)+" run -i --out out fail.star")
	term.waitFor(`fail.star:3:10: machine.succeed: m: command "false" failed`, 1, bootWait)
	term.waitFor(">>> ", 1, quickWait)
	term.line(`m.succeed("cat /root/x")`)
	term.waitFor(`"left-behind\n"`, 1, bootWait)
	term.keys("C-d")
	s := term.waitFor(exitMark, 1, bootWait)
	if !strings.Contains(s, exitMark+"1") || !strings.Contains(s, "FAIL fail") {
		t.Fatalf("after Ctrl-D:\n%s", s)
	}
}

// inDir runs vmtest in dir ("": the current one) with stdin and extra
// environment and returns stdout, stderr and the exit status.
func inDir(t *testing.T, dir, stdin string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// startNetwork starts a run-vms style script in dir (not at a terminal)
// and returns its run directory once its network is up, and a function
// that waits for it to exit and returns its status.
func startNetwork(t *testing.T, dir string, env []string, script string, args ...string) (string, func() int) {
	t.Helper()
	cmd := exec.Command(script, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if _, d, ok := strings.Cut(sc.Text(), "attach with: vmtest attach "); ok {
				found <- d
				break
			}
		}
		io.Copy(io.Discard, out)
		close(found)
	}()
	select {
	case d, ok := <-found:
		if !ok {
			t.Fatalf("%s ended without starting its network", script)
		}
		return d, func() int {
			cmd.Wait()
			return cmd.ProcessState.ExitCode()
		}
	case <-time.After(bootWait):
		t.Fatalf("%s did not start its network within %s", script, bootWait)
	}
	return "", nil
}

// TestStartAttachStopBuild runs a network in the background with vmtest
// start and drives it: a second start on the same disks, a scripted and
// an interactive attach (completion and a shell over the control
// socket), stop, bad run directories; then starts it again with the
// scripts of vmtest build and build-vm, whose machine finds what the
// first run wrote on its kept disk, with $QEMU_OPTS on QEMU's command
// line.
func TestStartAttachStopBuild(t *testing.T) {
	dir := t.TempDir()
	env := []string{"XDG_STATE_HOME=" + t.TempDir(), "NO_COLOR=1"}
	writeFile(t, dir, "p.star", `m = machine("m", memory = 256)
start_all()
m.succeed("echo script")
`)

	// build and build-vm check the file and write the scripts.
	if out, errs, code := inDir(t, dir, "", env, "build", "-o", "res", "p.star"); code != 0 || strings.TrimSpace(out) != "res/bin/run-vms" {
		t.Fatalf("build: exit %d: %s %s", code, out, errs)
	}
	script, err := os.ReadFile(filepath.Join(dir, "res/bin/run-vms"))
	if err != nil || !strings.Contains(string(script), " start --foreground "+filepath.Join(dir, "p.star")+` "$@"`) {
		t.Fatalf("run-vms: %v\n%s", err, script)
	}
	if out, errs, code := inDir(t, dir, "", env, "build-vm", "-o", "res", "p.star", "m"); code != 0 || strings.TrimSpace(out) != "res/bin/run-m-vm" {
		t.Fatalf("build-vm: exit %d: %s %s", code, out, errs)
	}
	if _, errs, code := inDir(t, dir, "", env, "build-vm", "p.star", "n"); code != exitUsage || !strings.Contains(errs, `p.star declares no machine "n"`) {
		t.Errorf("build-vm of a machine the file lacks: exit %d: %s", code, errs)
	}

	// start: in the background; it prints the run directory.
	out, errs, code := inDir(t, dir, "", env, "start", "--out", "out1", "p.star")
	runDir := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(filepath.Base(runDir), "vmtest-") {
		t.Fatalf("start: exit %d: %q %s", code, out, errs)
	}
	t.Cleanup(func() { exec.Command(bin, "stop", runDir).Run() })
	if _, err := os.Stat(filepath.Join(dir, "m.qcow2")); err != nil {
		t.Errorf("the disk is not kept: %v", err)
	}
	if _, errs, code := inDir(t, dir, "", env, "start", "--out", "out2", "p.star"); code != exitFailure ||
		!strings.Contains(errs, "m.qcow2 is in use by another vmtest") || !strings.Contains(errs, "vmtest stop "+runDir) {
		t.Errorf("a second start on the same disks: exit %d: %s", code, errs)
	}

	// attach, from a script: statements from standard input.
	if out, errs, code := inDir(t, dir, `m.succeed("echo kept > /root/state; echo written")`+"\n", env, "attach", runDir); code != 0 || !strings.Contains(out, `"written\n"`) {
		t.Fatalf("attach with a script: exit %d: %s %s", code, out, errs)
	}
	if out, _, code := inDir(t, dir, "m.succeed(\"false\")\nnever_reached()\n", env, "attach", runDir); code != exitFailure || !strings.Contains(out, `command "false" failed`) {
		t.Errorf("attach with a failing script: exit %d: %s", code, out)
	}
	// Detach and attach again at once, over and over: a client that has
	// just left does not keep the next one out, however late the network
	// notices that it left.
	for i := range 10 {
		if out, errs, code := inDir(t, dir, "6 * 7\n", env, "attach", runDir); code != 0 || !strings.Contains(out, "42") {
			t.Fatalf("attach %d right after a detach: exit %d: %s %s", i, code, out, errs)
		}
	}

	// attach, at a terminal: completion and a shell over the socket.
	term := newTerminal(t, dir, env, shellWord(bin)+" attach "+shellWord(runDir))
	term.waitFor(">>> ", 1, quickWait)
	term.typeText("m.succ")
	term.keys("Tab")
	term.waitFor(">>> m.succeed(", 1, quickWait)
	term.line(`"hostname")`)
	term.waitFor(`"m\n"`, 1, quickWait)
	term.line("m.shell()")
	term.waitFor("shell (exit or Ctrl-] to return)", 1, quickWait)
	term.line("echo remote-$((6*7)) $(cat /root/state); exit")
	term.waitFor("remote-42 kept", 1, bootWait)
	term.waitFor("shell ended (exit status 0)", 1, bootWait)
	term.waitFor(">>> ", 3, quickWait)
	term.keys("C-d")
	if s := term.waitFor(exitMark, 1, quickWait); !strings.Contains(s, "detached; the network keeps running") || !strings.Contains(s, exitMark+"0") {
		t.Fatalf("after Ctrl-D:\n%s", s)
	}

	// stop: the machines stop and the run directory goes.
	if out, errs, code := inDir(t, dir, "", env, "stop", runDir); code != 0 || !strings.Contains(out, "stopped p") {
		t.Fatalf("stop: exit %d: %s %s", code, out, errs)
	}
	if _, err := os.Stat(runDir); !os.IsNotExist(err) {
		t.Errorf("the run directory is left after stop: %v", err)
	}
	for _, tc := range []struct{ dir, want string }{
		{runDir, "no run directory"},
		{t.TempDir(), "is not the run directory of a vmtest start"},
	} {
		if _, errs, code := inDir(t, dir, "", env, "attach", tc.dir); code != exitFailure || !strings.Contains(errs, tc.want) {
			t.Errorf("attach %s: exit %d: %s", tc.dir, code, errs)
		}
	}

	// run-vms starts the network again from its kept disk.
	runDir, wait := startNetwork(t, dir, env, "res/bin/run-vms", "--out", "out2")
	if out, errs, code := inDir(t, dir, `m.succeed("cat /root/state")`+"\n", env, "attach", runDir); code != 0 || !strings.Contains(out, `"kept\n"`) {
		t.Fatalf("after run-vms: exit %d: %s %s", code, out, errs)
	}
	if _, errs, code := inDir(t, dir, "", env, "stop", runDir); code != 0 {
		t.Fatalf("stop: %s", errs)
	}
	if code := wait(); code != 0 {
		t.Errorf("run-vms exited %d after vmtest stop", code)
	}

	// run-m-vm: the one machine, with QEMU_OPTS.
	runDir, wait = startNetwork(t, dir, append(env, "QEMU_OPTS=-name vmtest-qemu-opts-check"), "res/bin/run-m-vm", "--out", "out3")
	if out, errs, code := inDir(t, dir, `m.succeed("cat /root/state")`+"\n", env, "attach", runDir); code != 0 || !strings.Contains(out, `"kept\n"`) {
		t.Fatalf("after run-m-vm: exit %d: %s %s", code, out, errs)
	}
	if !qemuHasArg(t, "vmtest-qemu-opts-check") {
		t.Error("QEMU_OPTS is not on the command line of the machine's QEMU")
	}
	if _, errs, code := inDir(t, dir, "", env, "stop", runDir); code != 0 {
		t.Fatalf("stop: %s", errs)
	}
	if code := wait(); code != 0 {
		t.Errorf("run-m-vm exited %d after vmtest stop", code)
	}
}

// qemuHasArg reports whether a running QEMU has arg on its command line.
func qemuHasArg(t *testing.T, arg string) bool {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if strings.Contains(args[0], "qemu-system") && strings.Contains(string(cmdline), arg) {
			return true
		}
	}
	return false
}
