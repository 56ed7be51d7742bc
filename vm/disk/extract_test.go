package disk

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestExtract writes files into a fresh image's upper layer with debugfs,
// as a guest would have, and reads a directory back, into a directory
// whose path has spaces, a comma and quotes (debugfs splits its
// commands at spaces).
func TestExtract(t *testing.T) {
	dir := t.TempDir()
	img, err := Create(context.Background(), filepath.Join(dir, "disk.img"), 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := os.WriteFile(data, []byte("counters\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	debugfs, err := Tool("debugfs", "e2fsprogs")
	if err != nil {
		t.Fatal(err)
	}
	script := strings.Join([]string{
		"mkdir /upper", "mkdir /upper/var", "mkdir /upper/var/cov", "mkdir /upper/var/cov/sub",
		"write " + data + " /upper/var/cov/sub/a.gcda",
		"write " + data + " /upper/var/cov/top",
	}, "\n")
	cmd := exec.Command(debugfs, "-w", "-f", "-", img.Path)
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("debugfs: %v\n%s", err, out)
	}

	out := filepath.Join(dir, `out, "my" dir`)
	dst := filepath.Join(out, "m1")
	if err := Extract(t.Context(), img, "/var/cov", dst); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"sub/a.gcda", "top"} {
		got, err := os.ReadFile(filepath.Join(dst, f))
		if err != nil || string(got) != "counters\n" {
			t.Errorf("%s: %q, %v", f, got, err)
		}
	}
	if err := Extract(t.Context(), img, "/var/none", filepath.Join(out, "m2")); !errors.Is(err, ErrNotOnDisk) {
		t.Errorf("a missing directory: got %v, want ErrNotOnDisk", err)
	}
	if err := Extract(t.Context(), Image{Path: img.Path, Format: "qcow2"}, "/var/cov", dst); err == nil || !strings.Contains(err.Error(), "want a raw ext4 image") {
		t.Errorf("a qcow2 image: got %v", err)
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".extract-") {
			t.Errorf("left behind %s", e.Name())
		}
	}
}
