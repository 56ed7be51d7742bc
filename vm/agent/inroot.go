//go:build linux

package agent

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// inRoot resolves paths inside a directory that is a machine's root (or
// a layer of it), the way the machine will once it is its "/": an
// absolute symbolic link resolves from that directory, and ".." stops
// at it (openat2 with RESOLVE_IN_ROOT). So nothing done through it
// reaches outside the directory, whatever links the host's files or an
// earlier boot left there. Only the agent's configure uses it, from one
// goroutine.
type inRoot struct {
	fd   int
	name string // the directory, for messages
}

// openInRoot opens the directory dir.
func openInRoot(dir string) (*inRoot, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", dir, err)
	}
	return &inRoot{fd: fd, name: dir}, nil
}

func (r *inRoot) close() { unix.Close(r.fd) }

// rel is the guest path p (absolute) relative to the root, "." for "/".
func rel(p string) string {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

// open opens the guest path p, resolving every link in it (the last one
// too, unless flags has O_NOFOLLOW) inside the root.
func (r *inRoot) open(p string, flags int, mode uint32) (int, error) {
	return unix.Openat2(r.fd, rel(p), &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Mode:    uint64(mode),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
}

// parent returns a descriptor (O_PATH) of the directory that holds the
// guest path p, resolved inside the root, and p's last name. Missing
// directories on the way are made (mode 0755, owned by root), as
// mkdir -p would, but inside the root. The caller closes the descriptor.
func (r *inRoot) parent(p string) (int, string, error) {
	p = path.Clean("/" + p)
	if p == "/" {
		return -1, "", errors.New("the root itself is not a file")
	}
	dir, base := path.Split(p)
	fd, err := r.open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return fd, base, err
	}
	// Make the missing directories, one at a time, each in its resolved
	// parent.
	pfd, name, err := r.parent(dir)
	if err != nil {
		return -1, "", err
	}
	err = unix.Mkdirat(pfd, name, 0o755)
	unix.Close(pfd)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, "", fmt.Errorf("making %s: %w", dir, err)
	}
	fd, err = r.open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		// EEXIST above, and still not a directory: a link to nothing, say.
		return -1, "", fmt.Errorf("%s is not a directory in the machine's root: %w", path.Clean(dir), err)
	}
	return fd, base, nil
}

// lstat returns what is at name in the directory dirfd, without
// following a link; ok is false if there is nothing.
func lstatAt(dirfd int, name string) (st unix.Stat_t, ok bool, err error) {
	err = unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return st, false, nil
	}
	return st, err == nil, err
}

// isDir reports whether st is a directory.
func isDir(st unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFDIR }
