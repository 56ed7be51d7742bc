package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vmtest/vmtest/internal/extract"
	"github.com/vmtest/vmtest/internal/hostcmd"
)

// UpperDir is where, inside a machine's disk, the agent keeps the
// overlay's upper layer: the guest file /x is /upper/x on the disk when
// the guest wrote it.
const UpperDir = "/upper"

// ErrNotOnDisk is returned by Extract when the guest path is not in the
// disk's upper layer (the guest never wrote it).
var ErrNotOnDisk = errors.New("not on the machine's disk")

// Extract copies the guest directory guestDir, as the guest last left it
// on the raw ext4 image img, into the host directory dst (created; the
// directory's contents become dst's). The machine must not be running.
//
// Only what reached the disk is there: everything after a clean power
// off, what was synced before a power cut. The journal is replayed first
// (e2fsck -E journal_only), as the guest kernel would at its next mount;
// that writes to img. The files are read with debugfs, so no root and no
// mount are needed. Only the upper layer is read: files the guest saw
// from the host's root but never wrote are not there.
//
// The guest wrote the disk, so what is on it is hostile: only regular
// files and directories are copied (links, devices, FIFOs are not),
// through a tree confined to dst (see package extract), within
// extract.DefaultLimits; a name debugfs cannot list unambiguously (with a
// slash or a newline in it) fails the copy. debugfs writes nothing but
// files of names Extract chose, in a directory of its own.
func Extract(ctx context.Context, img Image, guestDir, dst string) error {
	if img.Format != "raw" {
		return fmt.Errorf("reading %s: want a raw ext4 image, got %s", img.Path, img.Format)
	}
	if !path.IsAbs(guestDir) || path.Clean(guestDir) == "/" || strings.Trim(guestDir, safePathChars) != "" {
		return fmt.Errorf("reading %s: want an absolute guest directory other than /, of letters, digits and /._-, got %q", img.Path, guestDir)
	}
	e2fsck, err := Tool("e2fsck", "e2fsprogs")
	if err != nil {
		return err
	}
	debugfs, err := Tool("debugfs", "e2fsprogs")
	if err != nil {
		return err
	}
	// 0: clean; 1: the journal was replayed (or something fixed). Above:
	// left uncorrected, which journal_only cannot cause by itself.
	cmd := hostcmd.Command(ctx, e2fsck, "-p", "-E", "journal_only", img.Path)
	if out, err := cmd.CombinedOutput(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() > 1 {
			return fmt.Errorf("replaying the journal of %s: e2fsck: %w: %s", img.Path, err, bytes.TrimSpace(out))
		}
	}
	src := path.Join(UpperDir, path.Clean(guestDir))
	if img.Path, err = filepath.Abs(img.Path); err != nil {
		return err
	}
	top, err := lookupDir(ctx, debugfs, img.Path, src)
	if err != nil {
		return fmt.Errorf("%s: %w", guestDir, err)
	}
	items, err := walk(ctx, debugfs, img.Path, top, extract.DefaultLimits)
	if err != nil {
		return fmt.Errorf("reading %s from %s: %w", guestDir, img.Path, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), ".extract-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := copyOut(ctx, debugfs, img.Path, items, tmp, path.Base(guestDir)); err != nil {
		return fmt.Errorf("reading %s from %s: %w", guestDir, img.Path, err)
	}
	os.RemoveAll(dst)
	return os.Rename(tmp, dst)
}

// safePathChars are what a guest directory given to Extract may hold:
// it goes on debugfs's command line as it is.
const safePathChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-"

// lookupDir returns the inode of the directory at p in img (following no
// link at its end), or an error wrapping ErrNotOnDisk if there is none.
func lookupDir(ctx context.Context, debugfs, img, p string) (uint64, error) {
	out, stderr, err := debugfsRun(ctx, debugfs, img, "", []string{"ls -p " + p})
	if err != nil {
		return 0, fmt.Errorf("reading %s: debugfs: %w: %s", img, err, debugfsErrors(string(stderr)))
	}
	for _, line := range strings.Split(string(out), "\n") {
		if e, err := parseDirent(line); err == nil && e.name == "." && e.mode&modeType == modeDir {
			return e.ino, nil
		}
	}
	msg := debugfsErrors(string(stderr))
	if strings.Contains(msg, "not found") {
		return 0, ErrNotOnDisk
	}
	return 0, fmt.Errorf("reading %s: not a directory there (debugfs: %s)", img, msg)
}

// item is an entry to copy: its path relative to the copied directory.
type item struct {
	rel string
	dirent
}

// maxDepth bounds how deep a copied directory may nest.
const maxDepth = 64

// walk lists the tree under the directory inode top, level by level (one
// run of debugfs per level), and returns its directories and regular
// files, each directory before what is in it. It stops at the limits.
func walk(ctx context.Context, debugfs, img string, top uint64, lim extract.Limits) ([]item, error) {
	var items []item
	var total int64
	level := []item{{rel: ".", dirent: dirent{ino: top, mode: modeDir}}}
	for depth := 0; len(level) > 0; depth++ {
		if depth > maxDepth {
			return nil, fmt.Errorf("%s: nested deeper than %d directories: %w", level[0].rel, maxDepth, extract.ErrLimit)
		}
		inodes := make([]uint64, len(level))
		for i, d := range level {
			inodes[i] = d.ino
		}
		lists, err := listDirs(ctx, debugfs, img, inodes)
		if err != nil {
			return nil, err
		}
		var next []item
		for i, d := range level {
			for _, e := range lists[i] {
				it := item{rel: path.Join(d.rel, e.name), dirent: e}
				switch e.mode & modeType {
				case modeDir:
					next = append(next, it)
				case modeReg:
					if e.size > lim.File {
						return nil, fmt.Errorf("%s: larger than %d bytes, the limit of one file: %w", it.rel, lim.File, extract.ErrLimit)
					}
					total += e.size
				default:
					continue // links, devices, FIFOs, sockets: not copied
				}
				items = append(items, it)
				if len(items) > lim.Entries {
					return nil, fmt.Errorf("%s: more than %d entries, the limit of one copy: %w", it.rel, lim.Entries, extract.ErrLimit)
				}
				if total > lim.Total {
					return nil, fmt.Errorf("%s: the copy would exceed %d bytes in all: %w", it.rel, lim.Total, extract.ErrLimit)
				}
			}
		}
		level = next
	}
	return items, nil
}

// copyOut writes items into the host directory dir through a confined
// tree (see fill).
func copyOut(ctx context.Context, debugfs, img string, items []item, dir, label string) error {
	tree, err := extract.Open(dir, label, extract.DefaultLimits)
	if err != nil {
		return err
	}
	err = fill(ctx, debugfs, img, items, tree, filepath.Dir(dir))
	if cerr := tree.Close(); err == nil {
		err = cerr
	}
	return err
}

// fill makes the directories of items in tree, and its files: debugfs
// dumps them into a private directory made in scratch, under names of
// their index (its working directory, so no host path is on its command
// line), and each is copied into the tree from there.
func fill(ctx context.Context, debugfs, img string, items []item, tree *extract.Tree, scratch string) error {
	dumps, err := os.MkdirTemp(scratch, ".dump-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dumps)
	var cmds []string
	for i, it := range items {
		if it.mode&modeType == modeReg {
			cmds = append(cmds, fmt.Sprintf("dump <%d> %d", it.ino, i))
		}
	}
	if len(cmds) > 0 {
		if _, stderr, err := debugfsRun(ctx, debugfs, img, dumps, cmds); err != nil {
			return fmt.Errorf("debugfs: %w: %s", err, debugfsErrors(string(stderr)))
		}
	}
	for i, it := range items {
		perm := fs.FileMode(it.mode) & fs.ModePerm
		if it.mode&modeType == modeDir {
			if err := tree.Dir(it.rel, perm); err != nil {
				return err
			}
			continue
		}
		f, err := os.Open(filepath.Join(dumps, strconv.Itoa(i)))
		if err != nil {
			return fmt.Errorf("debugfs did not dump %s: %w", it.rel, err)
		}
		err = tree.File(it.rel, perm, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
