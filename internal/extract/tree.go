// Package extract writes trees that a guest made onto the host: the tar
// archive of a guest directory (copy_from_vm), the files a guest left on
// its disk (coverage data). Whatever a guest controls is hostile, so
// every entry is written through an os.Root opened on the destination:
// no name, symbolic link or hard link reaches outside it, whatever the
// order of the entries. Names with "..", absolute names and links that
// point outside are refused; device nodes and FIFOs are never made;
// permission bits are kept but setuid, setgid and sticky bits are not;
// and the bytes, files and entries written are bounded (Limits), with an
// error that says what was cut.
package extract

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
)

// Limits bound one extraction.
type Limits struct {
	File    int64 // bytes of one file
	Total   int64 // bytes of all files
	Entries int   // files, directories and links
}

// DefaultLimits are generous for test results and coverage data, and
// keep a guest from filling the host's disk.
var DefaultLimits = Limits{File: 4 << 30, Total: 8 << 30, Entries: 200_000}

// ErrLimit is wrapped by the errors of an extraction that went over its
// Limits.
var ErrLimit = errors.New("over the limit")

// Tree writes entries below one host directory. It is not safe for
// concurrent use. Close releases it.
type Tree struct {
	root    *os.Root
	dir     string
	label   string // names the top in messages
	lim     Limits
	bytes   int64
	entries int
	links   []string // symbolic links made, checked by Close
}

// Open returns a Tree that writes into the existing directory dir.
// Messages name an entry x as label/x (label is what dir holds, say the
// guest directory's base name; "" names it x).
func Open(dir, label string, lim Limits) (*Tree, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &Tree{root: r, dir: dir, label: label, lim: lim}, nil
}

// show is how messages name the entry name.
func (t *Tree) show(name string) string { return path.Join(t.label, name) }

// Written returns the bytes and entries written so far.
func (t *Tree) Written() (bytes int64, entries int) { return t.bytes, t.entries }

// Close checks that every symbolic link written resolves inside the tree
// (or to nothing yet), now that all entries are there, and releases the
// tree. A link that leads outside, through links written after it, is
// removed and reported.
func (t *Tree) Close() error {
	defer t.root.Close()
	var first error
	bad := 0
	for _, l := range t.links {
		if _, err := t.root.Stat(l); err != nil && !errors.Is(err, fs.ErrNotExist) {
			target, _ := t.root.Readlink(l)
			if first == nil {
				first = fmt.Errorf("symbolic link %s -> %s leads outside the directory, through other links", t.show(l), target)
			}
			t.root.Remove(l)
			bad++
		}
	}
	if bad > 1 {
		return fmt.Errorf("%w; %d such links removed", first, bad)
	}
	return first
}

// checkName refuses names that are not slash-separated paths inside the
// tree.
func (t *Tree) checkName(name string) error {
	if name == "" || name == "." || !fs.ValidPath(name) {
		return fmt.Errorf("entry %q of %s: want a relative path inside the directory, without . or .. parts", name, t.label)
	}
	return nil
}

// count adds one entry, or fails at the limit.
func (t *Tree) count(name string) error {
	if t.entries >= t.lim.Entries {
		return fmt.Errorf("%s: more than %d entries, the limit of one copy; the rest was not copied: %w", t.show(name), t.lim.Entries, ErrLimit)
	}
	t.entries++
	return nil
}

// clear removes what is at name, unless it is a directory, so that a new
// entry replaces it and is never written through an old link.
func (t *Tree) clear(name string) error {
	fi, err := t.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s: a directory is in the way", t.show(name))
	}
	return t.root.Remove(name)
}

// Dir makes the directory name (and its parents), with perm's
// permission bits and at least owner access.
func (t *Tree) Dir(name string, perm fs.FileMode) error {
	if err := t.checkName(name); err != nil {
		return err
	}
	if err := t.count(name); err != nil {
		return err
	}
	if fi, err := t.root.Lstat(name); err == nil && !fi.IsDir() {
		if err := t.root.Remove(name); err != nil {
			return err
		}
	}
	if err := t.root.MkdirAll(name, perm&fs.ModePerm|0o700); err != nil {
		return err
	}
	return t.root.Chmod(name, perm&fs.ModePerm|0o700)
}

// File writes the file name with what r holds, with perm's permission
// bits (at least owner read and write), replacing what was there. Its
// parent directory must exist. More than the limits allow is an error,
// and the cut file is removed.
func (t *Tree) File(name string, perm fs.FileMode, r io.Reader) error {
	if err := t.checkName(name); err != nil {
		return err
	}
	if err := t.count(name); err != nil {
		return err
	}
	if err := t.clear(name); err != nil {
		return err
	}
	f, err := t.root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm&fs.ModePerm|0o600)
	if err != nil {
		return err
	}
	max := min(t.lim.File, t.lim.Total-t.bytes)
	n, err := io.Copy(f, io.LimitReader(r, max+1))
	t.bytes += min(n, max)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > max {
		t.root.Remove(name)
		if max == t.lim.File {
			return fmt.Errorf("%s: larger than %s, the limit of one file; it was not copied: %w", t.show(name), size(t.lim.File), ErrLimit)
		}
		return fmt.Errorf("%s: the copy would exceed %s in all; it stopped there, and this file and the rest were not copied: %w", t.show(name), size(t.lim.Total), ErrLimit)
	}
	return err
}

// Symlink makes the symbolic link name pointing to target, which must be
// relative and lead to a place inside the tree.
func (t *Tree) Symlink(name, target string) error {
	if err := t.checkName(name); err != nil {
		return err
	}
	if target == "" || path.IsAbs(target) || !fs.ValidPath(path.Join(path.Dir(name), target)) {
		return fmt.Errorf("symbolic link %s -> %s leads outside the directory", t.show(name), target)
	}
	if err := t.count(name); err != nil {
		return err
	}
	if err := t.clear(name); err != nil {
		return err
	}
	if err := t.root.Symlink(target, name); err != nil {
		return err
	}
	t.links = append(t.links, name)
	return nil
}

// Link makes name a hard link to the file old, already in the tree.
func (t *Tree) Link(name, old string) error {
	if err := t.checkName(name); err != nil {
		return err
	}
	if err := t.checkName(old); err != nil {
		return fmt.Errorf("hard link %s: %w", t.show(name), err)
	}
	if err := t.count(name); err != nil {
		return err
	}
	if err := t.clear(name); err != nil {
		return err
	}
	return t.root.Link(old, name)
}

// size writes n bytes the way people say it.
func size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
