//go:build linux

package agent

import (
	"errors"
	"fmt"
	"path"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/vm/wire"
)

// hidePaths hides each of hidden (paths of the host root, the lower
// layer) in the machine's root, by changing the overlay's upper layer
// before the overlay is mounted: a whiteout over a file, which is then
// absent; an opaque directory over a directory, which is then empty,
// with the mode and owner it had. Directories above them are made in the
// upper layer as they are in the lower one.
//
// What the upper layer already holds at a path is the guest's own (it
// wrote there at an earlier boot) and stays, except that a directory
// there is made opaque; a path that a link, a whiteout or a file of the
// upper layer stands in the way of is not visible from the lower layer
// anyway, and is left alone. No link is followed, in either layer.
func hidePaths(lower, upper string, hidden []wire.Hidden) error {
	if len(hidden) == 0 {
		return nil
	}
	dirs, err := openLayers(lower, upper)
	if err != nil {
		return err
	}
	defer dirs.close()
	for _, h := range hidden {
		if err := dirs.hide(h); err != nil {
			return fmt.Errorf("hiding %s: %w", h.Path, err)
		}
	}
	return nil
}

// layerDirs are descriptors (O_PATH) of directories of both layers, by
// their path in the root ("/" for the roots), each opened once: hidden
// paths share their parents (/etc, the homes), and under emulation every
// step down the lower layer is a round trip over 9p. A path whose walk
// cannot go on (see mirrorStep) maps to nil.
type layerDirs map[string]*[2]int

func openLayers(lower, upper string) (layerDirs, error) {
	lo, err := unix.Open(lower, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	up, err := unix.Open(upper, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(lo)
		return nil, err
	}
	return layerDirs{"/": {lo, up}}, nil
}

func (d layerDirs) close() {
	for _, fds := range d {
		if fds != nil {
			unix.Close(fds[0])
			unix.Close(fds[1])
		}
	}
}

// dir returns the descriptors of the directory p in both layers, making
// it in the upper layer as the lower one has it, and the directories
// above it; nil when the walk cannot go on.
func (d layerDirs) dir(p string) (*[2]int, error) {
	if fds, ok := d[p]; ok {
		return fds, nil
	}
	parent, err := d.dir(path.Dir(p))
	if err != nil || parent == nil {
		return nil, err
	}
	lo, up, err := mirrorStep(parent[0], parent[1], path.Base(p))
	if err != nil {
		return nil, err
	}
	var fds *[2]int
	if lo >= 0 {
		fds = &[2]int{lo, up}
	}
	d[p] = fds
	return fds, nil
}

// hide hides h: see hidePaths.
func (d layerDirs) hide(h wire.Hidden) error {
	p := path.Clean("/" + h.Path)
	if p == "/" {
		return errors.New("the root cannot be hidden")
	}
	parent, err := d.dir(path.Dir(p))
	if err != nil || parent == nil {
		return err
	}
	lo, up, name := parent[0], parent[1], path.Base(p)
	ust, exists, err := lstatAt(up, name)
	if err != nil {
		return err
	}
	if !h.Dir {
		// The host found the file; a whiteout over nothing hides nothing,
		// so the lower layer need not be asked (a round trip over 9p).
		if exists {
			return nil
		}
		return unix.Mknodat(up, name, unix.S_IFCHR, 0) // a whiteout
	}
	if exists && !isDir(ust) {
		return nil
	}
	lst, ok, err := lstatAt(lo, name)
	if err != nil || !ok || !isDir(lst) {
		return err // nothing to hide, or no longer a directory: a whiteout would do, but the host said directory
	}
	if !exists {
		if err := mkdirLike(up, name, lst); err != nil {
			return err
		}
	}
	fd, err := unix.Openat(up, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fsetxattr(fd, "trusted.overlay.opaque", []byte("y"), 0)
}

// mirrorStep goes down into the directory c of both layers, making it in
// the upper one as the lower one has it; lo < 0 if it cannot.
func mirrorStep(lo, up int, c string) (int, int, error) {
	lst, ok, err := lstatAt(lo, c)
	if err != nil || !ok || !isDir(lst) {
		return -1, -1, err
	}
	ust, exists, err := lstatAt(up, c)
	if err != nil {
		return -1, -1, err
	}
	if exists && !isDir(ust) {
		return -1, -1, nil
	}
	if !exists {
		if err := mkdirLike(up, c, lst); err != nil {
			return -1, -1, err
		}
	}
	flags := unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	nlo, err := unix.Openat(lo, c, flags, 0)
	if err != nil {
		return -1, -1, err
	}
	nup, err := unix.Openat(up, c, flags, 0)
	if err != nil {
		unix.Close(nlo)
		return -1, -1, err
	}
	return nlo, nup, nil
}

// mkdirLike makes the directory name in dir with st's mode and owner.
func mkdirLike(dir int, name string, st unix.Stat_t) error {
	if err := unix.Mkdirat(dir, name, 0o700); err != nil {
		return err
	}
	return ownDirAt(dir, name, int(st.Uid), int(st.Gid), st.Mode)
}
