package disk

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vmtest/vmtest/internal/extract"
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

// hostileImage makes an ext4 image from the tree that build writes in
// a directory, then runs the debugfs commands on it (-w), then replaces
// bytes in it: a disk as a hostile guest could leave it. No directory
// checksums, so that names can be patched in place.
func hostileImage(t *testing.T, build func(dir string), cmds []string, patch map[string]string) Image {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	if err := os.MkdirAll(filepath.Join(src, "upper/var/cov"), 0o755); err != nil {
		t.Fatal(err)
	}
	build(filepath.Join(src, "upper/var/cov"))
	img := filepath.Join(t.TempDir(), "disk.img")
	mke2fs, err := Tool("mke2fs", "e2fsprogs")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mke2fs, "-q", "-t", "ext4", "-O", "^metadata_csum", "-d", src, img, "64M").CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v\n%s", err, out)
	}
	if len(cmds) > 0 {
		debugfs, _ := Tool("debugfs", "e2fsprogs")
		cmd := exec.Command(debugfs, "-w", "-f", "-", img)
		cmd.Stdin = strings.NewReader(strings.Join(cmds, "\n"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("debugfs: %v\n%s", err, out)
		}
	}
	if len(patch) > 0 {
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		for from, to := range patch {
			if len(from) != len(to) || !bytes.Contains(b, []byte(from)) {
				t.Fatalf("cannot patch %q into %q", from, to)
			}
			b = bytes.ReplaceAll(b, []byte(from), []byte(to))
		}
		if err := os.WriteFile(img, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Image{Path: img, Format: "raw"}
}

// TestExtractHostile reads directories a hostile guest left on its disk:
// names with .. or a slash in them fail the copy, and nothing is written
// outside it; links, device nodes and FIFOs are not copied; a file over
// the limit fails the copy before it is read.
func TestExtractHostile(t *testing.T) {
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"../../../escape", "sub/escape....."} {
		img := hostileImage(t, func(dir string) {
			write(filepath.Join(dir, "AAAAAAAAAAAAAAA"), "written by the guest\n")
			os.Mkdir(filepath.Join(dir, "sub"), 0o755)
		}, nil, map[string]string{"AAAAAAAAAAAAAAA": name})
		dir := t.TempDir()
		err := Extract(t.Context(), img, "/var/cov", filepath.Join(dir, "a", "b", "out"))
		if err == nil || !strings.Contains(err.Error(), "an entry debugfs cannot list unambiguously") {
			t.Errorf("%s: got %v", name, err)
		}
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				t.Errorf("%s: written %s", name, p)
			}
			return nil
		})
	}

	img := hostileImage(t, func(dir string) {
		write(filepath.Join(dir, "ok.gcda"), "counters\n")
		os.Symlink("/etc/shadow", filepath.Join(dir, "link"))
		syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644)
	}, []string{"mknod /upper/var/cov/sda b 8 0", "mknod /upper/var/cov/null c 1 3"}, nil)
	dst := filepath.Join(t.TempDir(), "out")
	if err := Extract(t.Context(), img, "/var/cov", dst); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dst)
	if len(entries) != 1 || entries[0].Name() != "ok.gcda" {
		t.Errorf("copied %v, want only ok.gcda", entries)
	}

	img = hostileImage(t, func(dir string) {
		f, _ := os.Create(filepath.Join(dir, "huge"))
		f.Truncate(5 << 30) // sparse: 5 GiB, and nothing on the disk
		f.Close()
	}, nil, nil)
	err := Extract(t.Context(), img, "/var/cov", filepath.Join(t.TempDir(), "out"))
	if !errors.Is(err, extract.ErrLimit) || !strings.Contains(err.Error(), "huge: larger than 4294967296 bytes, the limit of one file") {
		t.Errorf("a huge file: got %v", err)
	}
}
