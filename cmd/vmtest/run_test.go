package main

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// junitCases reads dir/junit.xml and returns its testcases' names, and
// which of them failed.
func junitCases(t *testing.T, path string) (names []string, failed map[string]bool) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Suites []struct {
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	failed = map[string]bool{}
	for _, c := range doc.Suites[0].Cases {
		names = append(names, c.Name)
		failed[c.Name] = c.Failure != nil
	}
	return names, failed
}

// TestRunExamples runs the examples in parallel (-j 2), each its own
// network: one machine; two machines where the client reaches the server
// by name; the paper's Figure 1, whose machines refer to each other.
func TestRunExamples(t *testing.T) {
	out := t.TempDir()
	stdout, stderr, code := vmtest(t, nil, "run", "--out", out,
		"../../examples/hello.star", "../../examples/ping.star", "../../examples/figure1.star", "-j", "2")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"PASS hello (", "PASS ping (", "PASS figure1 (", "3 of 3 test files passed"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	for test, machines := range map[string][]string{
		"hello":   {"hello"},
		"ping":    {"client", "server"},
		"figure1": {"client", "postgresql", "webserver"},
	} {
		dir := filepath.Join(out, test)
		names, failed := junitCases(t, filepath.Join(dir, "junit.xml"))
		if len(names) < 3 || names[0] != test {
			t.Errorf("%s: junit testcases %q", test, names)
		}
		for n, f := range failed {
			if f {
				t.Errorf("%s: junit says %s failed", test, n)
			}
		}
		for _, m := range machines {
			if _, err := os.Stat(filepath.Join(dir, m+".console.log")); err != nil {
				t.Errorf("%s: %v", test, err)
			}
		}
		if log, err := os.ReadFile(filepath.Join(dir, "log.txt")); err != nil || !bytes.Contains(log, []byte("PASS "+test)) {
			t.Errorf("%s: log.txt: %v\n%s", test, err, log)
		}
	}
}

// TestRunFailures runs three failing files at once: a command with a
// non-zero status, one that outlives its timeout=, and a wait that does.
// Each report shows
// the script's position, the machine, the command, its status and
// output, the console, and the traceback.
func TestRunFailures(t *testing.T) {
	out := t.TempDir()
	stdout, stderr, code := vmtest(t, []string{"NO_COLOR="}, "run", "-j", "2", "--out", out, "testdata/run/fail.star", "testdata/run/slow.star", "testdata/run/waitfail.star")
	if code != exitFailure {
		t.Fatalf("exit %d, want %d\n%s\n%s", code, exitFailure, stdout, stderr)
	}
	for _, want := range []string{
		"testdata/run/fail.star:6:14: machine.succeed: m: command \"echo some output; echo an error message >&2; exit 3\" failed with exit status 3\n" +
			"  machine: m\n" +
			"  command: echo some output; echo an error message >&2; exit 3\n" +
			"  status:  exit status 3\n" +
			"  stdout (last 1 lines):\n    some output\n" +
			"  stderr (last 1 lines):\n    an error message\n" +
			"  console of m (last ",
		"Traceback (most recent call last):\n" +
			"  testdata/run/fail.star:9:8: in <toplevel>\n" +
			"  <builtin>: in subtest\n" +
			"  testdata/run/fail.star:6:14: in check\n",
		"ok first (", "FAIL second (",
		"FAIL fail (", "1 machine, 2 subtests, 1 failed)",
		"testdata/run/slow.star:3:10: machine.succeed: m: command \"sleep 600\" timed out after 2s\n",
		"  status:  timed out after 2s and killed\n",
		"testdata/run/waitfail.star:3:21: machine.wait_for_open_port: m: waiting for port 9 to open timed out after 1s\n",
		"0 of 3 test files passed",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "never") {
		t.Errorf("the subtest after the failure ran:\n%s", stdout)
	}
	names, failed := junitCases(t, filepath.Join(out, "fail", "junit.xml"))
	if strings.Join(names, ",") != "fail,first,second" || !failed["fail"] || failed["first"] || !failed["second"] {
		t.Errorf("junit testcases %q, failed %v", names, failed)
	}
}

// TestRunTimeout stops a run at --timeout: the machine is stopped, the
// run fails and says why.
func TestRunTimeout(t *testing.T) {
	start := time.Now()
	stdout, _, code := vmtest(t, nil, "run", "--timeout", "12s", "--out", t.TempDir(), "testdata/run/hang.star")
	if code != exitFailure || !strings.Contains(stdout, "the run of testdata/run/hang.star timed out after 12s (--timeout)") {
		t.Fatalf("exit %d:\n%s", code, stdout)
	}
	if d := time.Since(start); d > 90*time.Second {
		t.Errorf("a run with --timeout 12s took %s", d)
	}
}

// TestRunInterrupt: Ctrl-C stops the run and its machines.
func TestRunInterrupt(t *testing.T) {
	cmd := exec.Command(bin, "run", "--out", t.TempDir(), "testdata/run/hang.star")
	var out bytes.Buffer
	cmd.Stdout = &syncWriter{b: &out}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var qemu int
	for deadline := time.Now().Add(120 * time.Second); qemu == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the machine did not run the command within 120 s:\n%s", cmd.Stdout.(*syncWriter).String())
		}
		if qs := qemuChildren(cmd.Process.Pid); len(qs) == 1 && strings.Contains(cmd.Stdout.(*syncWriter).String(), "$ sleep 600") {
			qemu = qs[0]
		}
	}
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
		t.Fatalf("after Ctrl-C: %v, want exit %d", err, exitInterrupted)
	}
	if alive(qemu) {
		t.Fatalf("qemu %d still runs after Ctrl-C", qemu)
	}
	if s := cmd.Stdout.(*syncWriter).String(); !strings.Contains(s, "interrupted") || !strings.Contains(s, "FAIL hang") {
		t.Errorf("output after Ctrl-C:\n%s", s)
	}
}

// TestRunBadInput: errors found before anything boots.
func TestRunBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no file", []string{"run"}, exitUsage, "no test file given"},
		{"same name", []string{"run", "a/x.star", "b/x.star"}, exitUsage, `a/x.star and b/x.star have the same test name "x"`},
		{"bad -j", []string{"run", "-j", "0", "x.star"}, exitUsage, "-j 0: want a whole number from 1 up, such as -j 4"},
		{"missing file", []string{"run", "testdata/run/nonexistent.star"}, exitUsage, "vmtest run: testdata/run/nonexistent.star: no such file\n"},
		{"unknown key", []string{"run", "testdata/run/bad.star"}, exitFailure,
			`testdata/run/bad.star:1:14: machine: unexpected keyword argument "memroy" (did you mean memory?)`},
		{"missing packages", []string{"run", "testdata/run/missing.star"}, exitFailure,
			"testdata/run/missing.star:3:10: start_all: 2 package(s) the machines need are not installed on this host (guests run the host's files):\n" +
				"  another-missing-package (wanted by b)\n  no-such-package-for-vmtest (wanted by a)\n" +
				"install them with:\n  apt-get install -y another-missing-package no-such-package-for-vmtest\n"},
		{"deps", []string{"deps", "../../examples/figure1.star", "testdata/run/missing.star"}, 0,
			"another-missing-package\ncurl\nno-such-package-for-vmtest\npython3\n"},
		{"deps error", []string{"deps", "testdata/run/bad.star"}, exitFailure, `unexpected keyword argument "memroy"`},
		{"deps of services", []string{"deps", "../../examples/ssh.star"}, 0, "openssh-client\nopenssh-server\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{tc.args[0], "--out", t.TempDir()}, tc.args[1:]...)
			if tc.args[0] == "deps" {
				args = tc.args
			}
			stdout, stderr, code := vmtest(t, nil, args...)
			if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
				t.Fatalf("exit %d, want %d and %q in:\n%s%s", code, tc.code, tc.want, stdout, stderr)
			}
			if strings.Contains(stdout, "booting") {
				t.Errorf("a machine booted:\n%s", stdout)
			}
		})
	}
}

// TestOutDirIsNotClobbered: a directory vmtest did not make is left alone.
func TestOutDirIsNotClobbered(t *testing.T) {
	out := t.TempDir()
	os.MkdirAll(filepath.Join(out, "bad"), 0o755)
	os.WriteFile(filepath.Join(out, "bad", "precious"), []byte("x"), 0o644)
	stdout, _, code := vmtest(t, nil, "run", "--out", out, "testdata/run/bad.star")
	if code != exitFailure || !strings.Contains(stdout, "refusing to replace") {
		t.Fatalf("exit %d:\n%s", code, stdout)
	}
	if _, err := os.Stat(filepath.Join(out, "bad", "precious")); err != nil {
		t.Fatal(err)
	}
}

// TestRunMachineMethods runs every Machine method on one real machine.
func TestRunMachineMethods(t *testing.T) {
	out := t.TempDir()
	stdout, stderr, code := vmtest(t, nil, "run", "--out", out, "testdata/run/methods.star")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for file, want := range map[string]string{
		"methods/copied/out/sub/r.txt": "result\n",
		"methods/copied/out/link":      "result\n",
		"methods/secret.conf":          "x = 1\n",
	} {
		if got, err := os.ReadFile(filepath.Join(out, file)); err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", file, got, err, want)
		}
	}
	if log, _ := os.ReadFile(filepath.Join(out, "methods", "log.txt")); !bytes.Contains(log, []byte("waited for everything")) {
		t.Errorf("log.txt lacks the script's log():\n%s", log)
	}
}

// TestRunJobs runs jobs on real machines: one file where they work (and
// fail as expected), one whose wait for a job times out, reported with
// the job's state and output.
func TestRunJobs(t *testing.T) {
	out := t.TempDir()
	stdout, stderr, code := vmtest(t, []string{"NO_COLOR="}, "run", "-j", "2", "--out", out, "testdata/run/jobs.star", "testdata/run/jobfail.star")
	for _, want := range []string{
		"PASS jobs (",
		"m: job web running",
		"m: job broken failed: it exited with status 3",
		"testdata/run/jobfail.star:3:15: machine.wait_for_job: m: job slow is not ready after 3s (it is starting)\n" +
			"  machine: m\n" +
			"  job:     slow\n" +
			"  state:   starting\n" +
			"  output of job slow (last 1 lines):\n" +
			"    starting up\n" +
			"  console of m (last ",
		"FAIL jobfail (",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s\n%s", want, stdout, stderr)
		}
	}
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
}

// TestRunServiceExamples runs the examples whose machines run Debian's
// packaged services: OpenSSH (key-based login), Subversion over Apache
// with mod_dav_svn, the paper's Figure 1 with PostgreSQL and NFS, and
// nginx with a site of its own in place of Debian's default (a link).
func TestRunServiceExamples(t *testing.T) {
	out := t.TempDir()
	files := []string{"../../examples/ssh.star", "../../examples/subversion.star", "../../examples/figure1-services.star", "../../examples/nginx.star"}
	stdout, stderr, code := vmtest(t, nil, append([]string{"run", "--out", out, "-j", "2"}, files...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, f := range files {
		test := strings.TrimSuffix(filepath.Base(f), ".star")
		if !strings.Contains(stdout, "PASS "+test+" (") {
			t.Errorf("output lacks PASS %s:\n%s", test, stdout)
		}
	}
}

// TestRunOddPaths boots machines whose run directory (their QMP, agent,
// console, switch and VNC sockets, their disks) and output directory
// have a comma and a space in their paths: QEMU must get each path whole
// (it reads "," as the start of the next option unless doubled).
func TestRunOddPaths(t *testing.T) {
	runtimeDir := filepath.Join(t.TempDir(), "run, dir")
	if err := os.Mkdir(runtimeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out, dir")
	stdout, stderr, code := vmtest(t, []string{"XDG_RUNTIME_DIR=" + runtimeDir}, "run", "--out", out, "testdata/run/paths.star")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "paths", "shot.png")); err != nil {
		t.Error(err)
	}
}

// TestRunTestsNothing: a file that declares no machine and runs no
// subtest passes, with a warning that it tests nothing; an empty one
// says it is empty.
func TestRunTestsNothing(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "nothing.star"), []byte("x = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"testdata/cli/empty.star":          "warning: testdata/cli/empty.star is empty: it declares and tests nothing\n",
		filepath.Join(dir, "nothing.star"): "warning: " + filepath.Join(dir, "nothing.star") + " declares no machine and runs no subtest: it tests nothing\n",
	} {
		stdout, stderr, code := vmtest(t, nil, "run", "--out", t.TempDir(), file)
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("%s: exit %d, want 0 and %q in:\n%s%s", file, code, want, stdout, stderr)
		}
	}
}

// TestHelp: -h prints the verb's usage and its flags, and exits 0.
func TestHelp(t *testing.T) {
	stdout, stderr, code := vmtest(t, nil, "run", "-h")
	if code != 0 || stdout != "" || !strings.HasPrefix(stderr, verbUsage("run")+"flags:\n") || !strings.Contains(stderr, "-max-memory SIZE") {
		t.Errorf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
}
