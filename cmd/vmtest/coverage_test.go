package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/runtime/coverage"
)

// TestCoverageExample builds examples/coverage with its own build step and
// runs it: three machines, C and Go programs, one machine that loses
// power. The combined coverage is above every machine's, every file of
// the report is there, and the HTML report opens in Chromium with a page
// per source file.
func TestCoverageExample(t *testing.T) {
	build := exec.Command("../../examples/coverage/build.sh")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}
	out := t.TempDir()
	stdout, stderr, code := vmtest(t, []string{"NO_COLOR=1"}, "run", "--out", out, "../../examples/coverage/coverage.star")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, want := range []string{"PASS coverage (", "\n  combined ", "partial: its power was cut (crash())", "coverage report: " + out + "/coverage/coverage/html/index.html"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}

	dir := filepath.Join(out, "coverage", "coverage")
	data, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sum coverage.Summary
	if err := json.Unmarshal(data, &sum); err != nil {
		t.Fatal(err)
	}
	if len(sum.Machines) != 3 {
		t.Fatalf("summary.json has %d machines, want 3:\n%s", len(sum.Machines), data)
	}
	for _, m := range sum.Machines {
		if m.Lines.Covered == 0 || !slices.Contains(m.Data, "gcov") || !slices.Contains(m.Data, "go") {
			t.Errorf("%s: %+v: want gcov and go data", m.Name, m)
		}
		if m.Lines.Percent >= sum.Combined.Lines.Percent {
			t.Errorf("%s: lines %.1f%%, not below the combined %.1f%%", m.Name, m.Lines.Percent, sum.Combined.Lines.Percent)
		}
		if m.Functions.Percent >= sum.Combined.Functions.Percent {
			t.Errorf("%s: functions %.1f%%, not below the combined %.1f%%", m.Name, m.Functions.Percent, sum.Combined.Functions.Percent)
		}
		if m.Partial != (m.Name == "client2") {
			t.Errorf("%s: partial = %v", m.Name, m.Partial)
		}
	}
	for _, f := range []string{"server.info", "client1.info", "client2.info", "combined.info", "html/index.html", "go/index.html", "go/profile.txt"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}

	// The HTML report, as a browser shows it: the title, a directory, a
	// page per file with its source.
	index := chromiumDOM(t, filepath.Join(dir, "html", "index.html"))
	if !regexp.MustCompile(`<title>LCOV - coverage</title>`).MatchString(index) {
		t.Errorf("index.html: no title \"LCOV - coverage\":\n%.2000s", index)
	}
	if !strings.Contains(index, `href="kv/index.html"`) {
		t.Fatalf("index.html: no link to the directory kv:\n%.2000s", index)
	}
	kv := chromiumDOM(t, filepath.Join(dir, "html", "kv", "index.html"))
	if !strings.Contains(kv, `href="kvd.c.gcov.html"`) {
		t.Fatalf("kv/index.html: no link to kvd.c's page:\n%.2000s", kv)
	}
	page := chromiumDOM(t, filepath.Join(dir, "html", "kv", "kvd.c.gcov.html"))
	if !strings.Contains(page, "static void handle(const char *line, FILE *out)") {
		t.Errorf("kvd.c.gcov.html does not show the source:\n%.2000s", page)
	}
}

// chromiumDOM renders an HTML file in headless Chromium and returns its
// DOM.
func chromiumDOM(t *testing.T, file string) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium not found in PATH; install it with: apt-get install -y chromium")
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--dump-dom", "file://"+file)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || len(out) == 0 {
		t.Fatalf("chromium --dump-dom %s: %v\n%s", file, err, stderr.String())
	}
	return string(out)
}

// TestCoverageBadInput: --coverage without lcov fails before anything
// boots, with the install command; a run whose programs were not
// instrumented fails saying so, and writes no report.
func TestCoverageBadInput(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain.star")
	if err := os.WriteFile(file, []byte("m = machine(\"m\", memory = 256)\nm.succeed(\"true\")\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	stdout, stderr, code := vmtest(t, []string{"PATH=" + t.TempDir(), "NO_COLOR=1"}, "run", "--coverage", "--out", filepath.Join(dir, "nolcov"), file)
	if want := "plain.star:2:10: machine.succeed: coverage needs lcov, geninfo, genhtml, gcov on the host, not found in PATH; install with: apt-get install -y lcov gcc"; code != exitFailure || !strings.Contains(stdout, want) {
		t.Errorf("without lcov: exit %d, want %d and %q\n%s\n%s", code, exitFailure, want, stdout, stderr)
	}
	if strings.Contains(stdout, "booting") {
		t.Errorf("without lcov, a machine booted:\n%s", stdout)
	}

	out := filepath.Join(dir, "out")
	stdout, stderr, code = vmtest(t, []string{"NO_COLOR=1"}, "run", "--coverage", "--out", out, file)
	if want := "coverage: no program on m wrote coverage data, so there is no report. Were the programs built with instrumentation (gcc/g++ --coverage, go build -cover)?"; code != exitFailure || !strings.Contains(stdout, want) {
		t.Errorf("uninstrumented: exit %d, want %d and %q\n%s\n%s", code, exitFailure, want, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "plain", "coverage")); err == nil {
		t.Errorf("uninstrumented: a coverage directory was written")
	}
	if names, failed := junitCases(t, filepath.Join(out, "plain", "junit.xml")); len(names) != 1 || !failed["plain"] {
		t.Errorf("junit: %q, failed %v", names, failed)
	}
}
