// Package disk makes the per-machine disk that holds a guest's writable
// upper layer: a sparse ext4 image built on the host with mke2fs (which needs
// no root to format a regular file), optionally kept as a qcow2 file across
// runs.
package disk

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/vmtest/vmtest/internal/hostcmd"
)

// DefaultSize is the apparent size of a new image. The file is sparse: it
// occupies only what the guest writes.
const DefaultSize = 8 << 30

// Image is a disk ready to attach to QEMU.
type Image struct {
	Path   string
	Format string // "raw" or "qcow2"
}

// Create makes a fresh sparse ext4 image of size bytes at path, replacing
// any file there. It fails with an install hint when mke2fs is missing.
// When ctx ends first, mke2fs is killed and nothing is left at path.
func Create(ctx context.Context, path string, size int64) (Image, error) {
	mke2fs, err := Tool("mke2fs", "e2fsprogs")
	if err != nil {
		return Image{}, err
	}
	os.Remove(path)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return Image{}, fmt.Errorf("creating disk image: %w", err)
	}
	err = f.Truncate(size)
	f.Close()
	if err != nil {
		os.Remove(path)
		return Image{}, fmt.Errorf("sizing disk image %s: %w", path, err)
	}
	// Lazy inode tables and journal keep formatting instant; the agent mounts
	// with noinit_itable so the guest does not zero them either. No reserved
	// blocks: nobody but the test uses this file system.
	cmd := hostcmd.Command(ctx, mke2fs, "-q", "-F", "-t", "ext4", "-m", "0",
		"-E", "lazy_itable_init=1,lazy_journal_init=1", "-L", "vmtest", path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		os.Remove(path)
		if ctx.Err() != nil {
			return Image{}, fmt.Errorf("mke2fs %s: %w", path, context.Cause(ctx))
		}
		return Image{}, fmt.Errorf("mke2fs %s: %w: %s", path, err, bytes.TrimSpace(out.Bytes()))
	}
	return Image{Path: path, Format: "raw"}, nil
}

// Keep returns the persistent qcow2 image at path (./<name>.qcow2 for
// interactive use), creating it from a fresh ext4 image when it does not
// exist yet. scratch is a directory for the temporary raw image. When ctx
// ends first, the programs making it are killed and nothing is left.
func Keep(ctx context.Context, path, scratch string, size int64) (Image, error) {
	if st, err := os.Stat(path); err == nil {
		if st.IsDir() {
			return Image{}, fmt.Errorf("disk %s is a directory, want a qcow2 image", path)
		}
		return Image{Path: path, Format: "qcow2"}, nil
	}
	qemuImg, err := Tool("qemu-img", "qemu-utils")
	if err != nil {
		return Image{}, err
	}
	raw, err := Create(ctx, filepath.Join(scratch, filepath.Base(path)+".raw"), size)
	if err != nil {
		return Image{}, err
	}
	defer os.Remove(raw.Path)
	// A temporary file of a name of its own, next to the disk (the
	// current directory, maybe shared): never one that someone could
	// have put a link at.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return Image{}, err
	}
	tmp := f.Name()
	f.Close()
	out, err := hostcmd.Command(ctx, qemuImg, "convert", "-f", "raw", "-O", "qcow2", raw.Path, tmp).CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		if ctx.Err() != nil {
			return Image{}, fmt.Errorf("qemu-img convert to %s: %w", path, context.Cause(ctx))
		}
		return Image{}, fmt.Errorf("qemu-img convert to %s: %w: %s", path, err, bytes.TrimSpace(out))
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return Image{}, err
	}
	return Image{Path: path, Format: "qcow2"}, nil
}

// Tool finds a program in PATH or the sbin directories (which a non-root
// user's PATH often lacks on Debian), or says which package provides it.
func Tool(name, pkg string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found; install it with: apt-get install %s", name, pkg)
}

// Size returns the size of the disk the guest sees: the file's for a raw
// image, the virtual size in its header for a qcow2 one.
func Size(img Image) (int64, error) {
	f, err := os.Open(img.Path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if img.Format != "qcow2" {
		fi, err := f.Stat()
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	// The qcow2 header: magic "QFI\xfb", version, backing file offset and
	// size, cluster bits, then the virtual size (all big-endian).
	var h [32]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return 0, fmt.Errorf("reading the qcow2 header of %s: %w", img.Path, err)
	}
	if string(h[:4]) != "QFI\xfb" {
		return 0, fmt.Errorf("%s is not a qcow2 image", img.Path)
	}
	return int64(binary.BigEndian.Uint64(h[24:32])), nil
}
