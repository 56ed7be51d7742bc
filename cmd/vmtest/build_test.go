package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/lang"
)

// TestStartScriptQuotes: run-vms gives vmtest every path as one word,
// whatever the path holds (a newline, quotes, $(...), backquotes, a
// comma), and none of it runs as shell.
func TestStartScriptQuotes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a\nb'c\"$(touch injected1)`touch injected2`\n touch injected3, d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "t.star")
	if err := os.WriteFile(file, []byte("machine(\"m\")\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A stand-in for vmtest that writes its arguments, NUL-terminated.
	fake := filepath.Join(t.TempDir(), "fake vmtest")
	argsFile := filepath.Join(t.TempDir(), "args")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nfor a; do printf '%s\\0' \"$a\"; done > \"$ARGS\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	bf := buildFlags{libs: libFlag{dir}}
	bf.boot.kernel = filepath.Join(dir, "vmlinuz")
	bf.boot.accel = "tcg"
	bf.limits.Limits = lang.Limits{Steps: 5, Memory: lang.DefaultLimits.Memory}
	script, err := startScript(fake, file, "m", bf)
	if err != nil {
		t.Fatal(err)
	}
	cwd := t.TempDir()
	runVMs := filepath.Join(cwd, "run-vms")
	if err := writeExecutable(runVMs, script); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(runVMs, "--out", "o")
	cmd.Dir = cwd
	cmd.Env = append(os.Environ(), "ARGS="+argsFile)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("run-vms: %v: %s\n%s", err, out, script)
	}
	b, err := os.ReadFile(argsFile)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
	want := []string{"start", "--foreground", "--only", "m", "--kernel", bf.boot.kernel, "--accel", "tcg",
		"--max-steps", "5", "-L", dir, file, "--out", "o"}
	if !slices.Equal(got, want) {
		t.Errorf("run-vms ran vmtest with\n%q\nwant\n%q\nscript:\n%s", got, want, script)
	}
	for _, f := range []string{"injected1", "injected2", "injected3"} {
		if _, err := os.Stat(filepath.Join(cwd, f)); err == nil {
			t.Errorf("run-vms ran shell from the path: %s exists\n%s", f, script)
		}
	}
}

// TestWriteExecutableTemporaryFile: a script is written through a
// temporary file of a name of its own, so a link at the script's name
// plus .tmp does not make vmtest write where it leads.
func TestWriteExecutableTemporaryFile(t *testing.T) {
	dir, victim := t.TempDir(), filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("untouched\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "bin", "run-vms")
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.Symlink(victim, path+".tmp"); err != nil {
		t.Fatal(err)
	}
	if err := writeExecutable(path, "#!/bin/sh\n"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "untouched\n" {
		t.Errorf("written through the link: %q", b)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("%s: %v, %v; want mode 0755", path, fi.Mode(), err)
	}
}
