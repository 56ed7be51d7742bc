package disk

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestSize(t *testing.T) {
	dir := t.TempDir()
	raw, err := Create(context.Background(), filepath.Join(dir, "a.img"), 1<<30)
	if err != nil {
		t.Skip(err)
	}
	if n, err := Size(raw); err != nil || n != 1<<30 {
		t.Errorf("Size(raw) = %d, %v; want %d", n, err, 1<<30)
	}
	qemuImg, err := Tool("qemu-img", "qemu-utils")
	if err != nil {
		t.Skip(err)
	}
	q := filepath.Join(dir, "b.qcow2")
	if out, err := exec.Command(qemuImg, "create", "-q", "-f", "qcow2", q, "3G").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v: %s", err, out)
	}
	if n, err := Size(Image{Path: q, Format: "qcow2"}); err != nil || n != 3<<30 {
		t.Errorf("Size(qcow2) = %d, %v; want %d", n, err, 3<<30)
	}
	if _, err := Size(Image{Path: raw.Path, Format: "qcow2"}); err == nil {
		t.Error("a raw image passed for a qcow2 one")
	}
}

// TestKeepTemporaryFile: a kept disk is converted through a temporary
// file of a name of its own, so a link at the disk's name plus .tmp (in
// a directory others may write to) does not make vmtest write where it
// leads.
func TestKeepTemporaryFile(t *testing.T) {
	dir, victim := t.TempDir(), filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("untouched\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "m.qcow2")
	if err := os.Symlink(victim, path+".tmp"); err != nil {
		t.Fatal(err)
	}
	if _, err := Keep(t.Context(), path, t.TempDir(), 64<<20); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "untouched\n" {
		t.Errorf("written through the link: %d bytes", len(b))
	}
}
