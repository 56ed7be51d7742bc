// Package cache locates the user's vmtest cache directory and writes
// content-addressed artifacts into it (unpacked kernels, initramfs images,
// probe results).
//
// Artifacts are named by a hash of everything they are derived from (see Key),
// so an entry never goes stale: when an input changes, its name changes.
// Several vmtest processes may share the directory at once; WriteAtomic makes
// sure none of them ever sees a partly written file. Nothing here deletes old
// entries.
package cache

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// EnvDir is the environment variable that overrides the cache directory.
const EnvDir = "VMTEST_CACHE"

// Dir returns the cache directory: $VMTEST_CACHE if it is set and not empty,
// else os.UserCacheDir()/vmtest. It creates the directory (mode 0700) if it
// does not exist yet and returns an absolute path.
func Dir() (string, error) {
	dir := os.Getenv(EnvDir)
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("cannot find a cache directory: %w; set %s to a writable directory", err, EnvDir)
		}
		dir = filepath.Join(base, "vmtest")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("cache directory %q: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("cannot create cache directory: %w; set %s to a writable directory", err, EnvDir)
	}
	if err := CheckPrivate(dir); err != nil {
		return "", err
	}
	return dir, nil
}

// CheckPrivate refuses a cache directory that someone else could write
// into: it must belong to this process's user and not be writable by its
// group or others. What is in it is run: a kernel, an initramfs, and
// boot snapshots, which QEMU loads with -incoming as the state of the
// guest's CPU and memory.
func CheckPrivate(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cache directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Geteuid(); int(st.Uid) != uid {
		return fmt.Errorf("cache directory %s belongs to uid %d, not to you (uid %d): what is in it runs in every machine (boot snapshots are loaded as the guests' memory), so it must be yours; set %s to a directory of your own", dir, st.Uid, uid, EnvDir)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("cache directory %s is writable by others (mode %04o): what is in it runs in every machine (boot snapshots are loaded as the guests' memory); make it private with: chmod go-w %s", dir, perm, dir)
	}
	return nil
}

// Key returns the lowercase hex SHA-256 of parts. Each part is hashed after
// its length (8 bytes, big endian), so the boundaries between parts count:
// Key([]byte("ab"), []byte("c")) != Key([]byte("a"), []byte("bc")).
func Key(parts ...[]byte) string {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// WriteAtomic creates or replaces the file at path with what write writes.
// The data goes to a temporary file in the same directory (buffered, then
// synced to disk) which is renamed to path only once write returned nil, so
// readers see either the old file, or no file, or the whole new file; never
// a part. On any error the temporary file is removed and path is untouched.
// The file is created with mode 0600 (the cache directory is private anyway).
func WriteAtomic(path string, write func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<16)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	// Sync before the rename: after a crash, a cache entry under its final
	// name must never turn out empty or short.
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return nil
}

// Exists reports whether path names an existing regular file. Errors other
// than "does not exist" are returned so that, say, a permission problem is
// not mistaken for a cache miss.
func Exists(path string) (bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cache entry %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return false, fmt.Errorf("cache entry %s is not a regular file (%s); remove it", path, fi.Mode().Type())
	}
	return true, nil
}
