package extract

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Archive says what a tar archive from a guest should hold.
type Archive struct {
	// Top is the one name at the archive's top (tar -C dir top): every
	// entry is Top or below it. Its contents become the tree's.
	Top string
	// GuestDir is where Top is in the guest (absolute). An absolute
	// symbolic link into it is written as the relative link it is
	// within the copy; other absolute links lead outside and are refused.
	GuestDir string
}

// Untar writes the regular files, directories, symbolic links and hard
// links of the tar stream r into t, as a.Top's contents. Device nodes
// and FIFOs are skipped. It stops at the first entry it refuses (a name
// outside Top, a link leading outside, a limit reached) and returns why.
func Untar(r io.Reader, t *Tree, a Archive) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the archive: %w", err)
		}
		name, err := a.local(hdr.Name)
		if err != nil {
			return err
		}
		if name == "." {
			continue // Top itself: the tree
		}
		mode := fs.FileMode(hdr.Mode) & fs.ModePerm
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = t.Dir(name, mode)
		case tar.TypeReg:
			err = t.File(name, mode, tr)
		case tar.TypeSymlink:
			err = t.Symlink(name, a.linkTarget(name, hdr.Linkname))
		case tar.TypeLink:
			old, lerr := a.local(hdr.Linkname)
			if lerr != nil {
				return fmt.Errorf("hard link %s: %w", hdr.Name, lerr)
			}
			err = t.Link(name, old)
		}
		if err != nil {
			return err
		}
	}
}

// local returns the archive name n relative to Top ("." for Top itself),
// or an error if it is not Top or below it.
func (a Archive) local(n string) (string, error) {
	clean := path.Clean(n)
	rest, ok := strings.CutPrefix(clean, a.Top+"/")
	if clean == a.Top {
		rest, ok = ".", true
	}
	if !ok || slices.Contains(strings.Split(n, "/"), "..") {
		return "", fmt.Errorf("unexpected entry %q in the guest's archive: want %s or a path below it, without ..", n, a.Top)
	}
	return rest, nil
}

// linkTarget rewrites an absolute link target inside GuestDir as the
// relative one it is inside the copy; anything else is returned as it is
// (and Tree.Symlink judges it).
func (a Archive) linkTarget(name, target string) string {
	if !path.IsAbs(target) || a.GuestDir == "" {
		return target
	}
	guest := path.Clean(a.GuestDir)
	rel, ok := strings.CutPrefix(path.Clean(target), guest+"/")
	if path.Clean(target) == guest {
		rel, ok = ".", true
	}
	if !ok {
		return target
	}
	// From the link's directory to rel: both are slash paths inside the
	// copy, so Rel gives a path that stays inside it.
	r, err := filepath.Rel(path.Dir(name), rel)
	if err != nil {
		return target
	}
	return filepath.ToSlash(r)
}
