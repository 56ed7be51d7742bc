package main

import (
	"os"
	"path/filepath"
	"testing"
)

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
