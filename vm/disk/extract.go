package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

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
func Extract(ctx context.Context, img Image, guestDir, dst string) error {
	if img.Format != "raw" {
		return fmt.Errorf("reading %s: want a raw ext4 image, got %s", img.Path, img.Format)
	}
	if !path.IsAbs(guestDir) || path.Clean(guestDir) == "/" {
		return fmt.Errorf("reading %s: want an absolute guest directory other than /, got %q", img.Path, guestDir)
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
	// rdump writes dir/<base of src>: dump into a scratch directory next
	// to dst, then move that into place.
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	scratch, err := os.MkdirTemp(filepath.Dir(dst), ".extract-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	var stderr bytes.Buffer
	cmd = hostcmd.Command(ctx, debugfs, "-R", "rdump "+debugfsWord(src)+" "+debugfsWord(scratch), img.Path)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("reading %s from %s: debugfs: %w: %s", guestDir, img.Path, err, bytes.TrimSpace(stderr.Bytes()))
	}
	got := filepath.Join(scratch, path.Base(src))
	if _, err := os.Stat(got); err != nil {
		// debugfs exits 0 on a missing path; its message says why.
		if msg := debugfsErrors(stderr.String()); strings.Contains(msg, "not found") {
			return fmt.Errorf("%s: %w", guestDir, ErrNotOnDisk)
		} else if msg != "" {
			return fmt.Errorf("reading %s from %s: debugfs: %s", guestDir, img.Path, msg)
		}
		return fmt.Errorf("reading %s from %s: debugfs wrote nothing", guestDir, img.Path)
	}
	os.RemoveAll(dst)
	return os.Rename(got, dst)
}

// debugfsWord quotes s as one word of a debugfs command: its parser
// splits at spaces outside double quotes, and reads "" in them as ".
func debugfsWord(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// debugfsErrors returns what debugfs printed besides its version banner.
func debugfsErrors(stderr string) string {
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "debugfs ") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}
