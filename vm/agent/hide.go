//go:build linux

package agent

import (
	"errors"
	"fmt"
	"path"
	"strings"

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
	for _, h := range hidden {
		if err := hidePath(lower, upper, h); err != nil {
			return fmt.Errorf("hiding %s: %v", h.Path, err)
		}
	}
	return nil
}

func hidePath(lower, upper string, h wire.Hidden) error {
	lo, up, name, err := mirrorParents(lower, upper, h.Path)
	if err != nil || lo < 0 {
		return err
	}
	defer unix.Close(lo)
	defer unix.Close(up)
	lst, ok, err := lstatAt(lo, name)
	if err != nil || !ok {
		return err // nothing to hide
	}
	ust, exists, err := lstatAt(up, name)
	if err != nil {
		return err
	}
	if !isDir(lst) {
		if exists {
			return nil
		}
		return unix.Mknodat(up, name, unix.S_IFCHR, 0) // a whiteout
	}
	if exists && !isDir(ust) {
		return nil
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

// mirrorParents walks from both layers' roots down to the directory
// that holds the path p, making each directory missing from the upper
// layer as the lower one has it. It returns descriptors of that
// directory in both layers and p's last name, or lo < 0 when the walk
// cannot go on: a part of the path is missing from the lower layer, is
// no directory there, or something other than a directory stands for it
// in the upper one. Links are never followed.
func mirrorParents(lower, upper, p string) (lo, up int, name string, err error) {
	parts := strings.Split(strings.TrimPrefix(path.Clean("/"+p), "/"), "/")
	if parts[0] == "" {
		return -1, -1, "", errors.New("the root cannot be hidden")
	}
	if lo, err = unix.Open(lower, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		return -1, -1, "", err
	}
	if up, err = unix.Open(upper, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		unix.Close(lo)
		return -1, -1, "", err
	}
	for _, c := range parts[:len(parts)-1] {
		nlo, nup, err := mirrorStep(lo, up, c)
		unix.Close(lo)
		unix.Close(up)
		if err != nil || nlo < 0 {
			return -1, -1, "", err
		}
		lo, up = nlo, nup
	}
	return lo, up, parts[len(parts)-1], nil
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
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Fchown(fd, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	return unix.Fchmod(fd, st.Mode&0o7777)
}
