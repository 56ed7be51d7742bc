package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSpecExamplesRun runs every example of SPEC.md marked vmtest-example
// (a block opened with "```python vmtest-example") with vmtest run, on
// real guests, two files at a time: each must pass. (builtins'
// TestSpecExamples checks their declarations without booting.)
func TestSpecExamplesRun(t *testing.T) {
	data, err := os.ReadFile("../../SPEC.md")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	lines := strings.Split(string(data), "\n")
	var files []string
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```python vmtest-example" {
			continue
		}
		start := i + 1
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
		}
		// Named for its line in SPEC.md, and padded with empty lines so
		// that errors point at SPEC.md's lines.
		file := filepath.Join(dir, fmt.Sprintf("spec-line%d.star", start+1))
		src := strings.Repeat("\n", start) + strings.Join(lines[start:i], "\n") + "\n"
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, file)
	}
	if len(files) == 0 {
		t.Fatal("SPEC.md has no vmtest-example")
	}
	args := append([]string{"run", "-j", "2", "--out", filepath.Join(dir, "out")}, files...)
	stdout, stderr, code := vmtest(t, []string{"NO_COLOR="}, args...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".star")
		if !strings.Contains(stdout, "PASS "+name+" (") {
			t.Errorf("no PASS line for %s\n%s", name, stdout)
		}
	}
}
