package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeExample runs the Starlark example at the top of README.md, as
// it stands there, with vmtest run.
func TestReadmeExample(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "```python\n")
	if !ok {
		t.Fatal("README.md has no ```python block")
	}
	src, _, ok := strings.Cut(rest, "```\n")
	if !ok {
		t.Fatal("README.md's ```python block is not closed")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "readme.star")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := vmtest(t, nil, "run", "--out", filepath.Join(dir, "out"), file)
	if code != 0 || !strings.Contains(stdout, "PASS readme (") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
}
