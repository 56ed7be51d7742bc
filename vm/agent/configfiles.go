//go:build linux

package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/vm/wire"
)

// writeConfigFiles writes the files of a configure request under root,
// in order: regular files (replaced whole, or appended to), directories
// and symbolic links, each with its mode and owner. Missing parent
// directories are made, owned by root, mode 0755.
//
// Every path is resolved inside root, as the machine will see it once
// root is its "/": a link among its parents, absolute or not, leads to a
// place inside root, never outside. A path names that path: a symbolic
// link there is replaced by the file, directory or link asked for (as
// NixOS's environment.etc does), not followed. An appended-to file is
// read through a link there (inside root) and replaces it.
func writeConfigFiles(root string, files []wire.File) error {
	r, err := openInRoot(root)
	if err != nil {
		return err
	}
	defer r.close()
	for _, f := range files {
		if err := writeConfigFile(r, f); err != nil {
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
	}
	return nil
}

func writeConfigFile(r *inRoot, f wire.File) error {
	dir, name, err := r.parent(f.Path)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	st, exists, err := lstatAt(dir, name)
	if err != nil {
		return err
	}
	switch f.Kind {
	case wire.FileDir:
		return writeDir(dir, name, f, st, exists)
	case wire.FileSymlink:
		if exists {
			if err := removeAt(dir, name, st); err != nil {
				return err
			}
		}
		if err := unix.Symlinkat(string(f.Data), dir, name); err != nil {
			return err
		}
		return unix.Fchownat(dir, name, f.UID, f.GID, unix.AT_SYMLINK_NOFOLLOW)
	case "":
		if f.Append {
			return appendFile(r, dir, name, f, st, exists)
		}
		return writeFile(dir, name, f.Data, f, st, exists)
	}
	return fmt.Errorf("unknown kind %q", f.Kind)
}

// removeAt removes what is at name in dir (st), unless it is a
// directory, which is an error.
func removeAt(dir int, name string, st unix.Stat_t) error {
	if isDir(st) {
		return errors.New("a directory is in the way")
	}
	return unix.Unlinkat(dir, name, 0)
}

// writeDir makes the directory name in dir, replacing a link or file.
func writeDir(dir int, name string, f wire.File, st unix.Stat_t, exists bool) error {
	if exists && !isDir(st) {
		if err := unix.Unlinkat(dir, name, 0); err != nil {
			return err
		}
		exists = false
	}
	if !exists {
		if err := unix.Mkdirat(dir, name, 0o755); err != nil {
			return err
		}
	}
	return ownDirAt(dir, name, f.UID, f.GID, f.Mode)
}

// writeFile writes data as the file name in dir, replacing whatever is
// there but a directory: a link is replaced, not followed.
func writeFile(dir int, name string, data []byte, f wire.File, st unix.Stat_t, exists bool) error {
	if exists && st.Mode&unix.S_IFMT != unix.S_IFREG {
		if err := removeAt(dir, name, st); err != nil {
			return err
		}
	}
	fd, err := unix.Openat(dir, name, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, f.Mode&0o777)
	if err != nil {
		return err
	}
	file := os.NewFile(uintptr(fd), name)
	_, err = file.Write(data)
	if err == nil {
		err = setOwnerMode(fd, f)
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	return err
}

// appendFile adds f.Data to the file name in dir unless it holds it
// already. A link there is read through (inside the root) and replaced
// by a file with its target's contents, mode and owner, plus the text.
func appendFile(r *inRoot, dir int, name string, f wire.File, st unix.Stat_t, exists bool) error {
	old, target, found, err := readThrough(r, f)
	if err != nil {
		return err
	}
	if bytes.Contains(old, f.Data) {
		return nil // applied at an earlier boot
	}
	data := f.Data
	if len(old) > 0 && old[len(old)-1] != '\n' {
		data = append([]byte{'\n'}, data...)
	}
	if exists && st.Mode&unix.S_IFMT == unix.S_IFREG {
		fd, err := unix.Openat(dir, name, unix.O_WRONLY|unix.O_APPEND|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		file := os.NewFile(uintptr(fd), name)
		_, err = file.Write(data)
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		return err // an existing file keeps its mode and owner
	}
	if found {
		f = target // what the link led to
	}
	return writeFile(dir, name, append(old, data...), f, st, exists)
}

// readThrough reads the regular file at f.Path, following links inside
// the root, and returns its contents and f with its mode and owner;
// found is false when there is no such file (nothing there, a link to
// nothing, or something other than a regular file).
func readThrough(r *inRoot, f wire.File) (data []byte, target wire.File, found bool, err error) {
	fd, err := r.open(f.Path, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil, f, false, nil
	}
	if err != nil {
		return nil, f, false, err
	}
	file := os.NewFile(uintptr(fd), f.Path)
	defer file.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, f, false, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, f, false, nil
	}
	target = f
	target.Mode, target.UID, target.GID = st.Mode&0o7777, int(st.Uid), int(st.Gid)
	data, err = io.ReadAll(file)
	return data, target, true, err
}

// setOwnerMode gives the open file fd f's owner, then its mode (after
// chown, which clears setuid and setgid bits).
func setOwnerMode(fd int, f wire.File) error {
	if err := unix.Fchown(fd, f.UID, f.GID); err != nil {
		return err
	}
	return unix.Fchmod(fd, f.Mode&0o7777)
}

// ownDirAt gives the directory name in dir (not a link) an owner, then a
// mode.
func ownDirAt(dir int, name string, uid, gid int, mode uint32) error {
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return setOwnerMode(fd, wire.File{UID: uid, GID: gid, Mode: mode})
}
