//go:build linux

package agent

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/vm/wire"
)

// writeConfigFiles writes the files of a configure request under root,
// in order: regular files (replaced whole, or appended to), directories
// and symbolic links, each with its mode and owner. Missing parent
// directories are made, owned by root, mode 0755.
func writeConfigFiles(root string, files []wire.File) error {
	for _, f := range files {
		if err := writeConfigFile(root, f); err != nil {
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
	}
	return nil
}

func writeConfigFile(root string, f wire.File) error {
	p := filepath.Join(root, f.Path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return unwrapPathError(err)
	}
	switch f.Kind {
	case wire.FileDir:
		if err := os.MkdirAll(p, 0o755); err != nil {
			return unwrapPathError(err)
		}
	case wire.FileSymlink:
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return unwrapPathError(err)
		}
		if err := os.Symlink(string(f.Data), p); err != nil {
			return unwrapPathError(err)
		}
		return unwrapPathError(os.Lchown(p, f.UID, f.GID))
	case "":
		if f.Append {
			old, err := os.ReadFile(p)
			if err != nil && !os.IsNotExist(err) {
				return unwrapPathError(err)
			}
			if bytes.Contains(old, f.Data) {
				return nil // applied at an earlier boot
			}
			if len(old) > 0 && old[len(old)-1] != '\n' {
				f.Data = append([]byte{'\n'}, f.Data...)
			}
			a, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, os.FileMode(f.Mode&0o777))
			if err != nil {
				return unwrapPathError(err)
			}
			_, err = a.Write(f.Data)
			if cerr := a.Close(); err == nil {
				err = cerr
			}
			if err != nil || len(old) > 0 {
				return unwrapPathError(err) // an existing file keeps its mode and owner
			}
		} else if err := os.WriteFile(p, f.Data, os.FileMode(f.Mode&0o777)); err != nil {
			return unwrapPathError(err)
		}
	default:
		return fmt.Errorf("unknown kind %q", f.Kind)
	}
	if err := os.Chown(p, f.UID, f.GID); err != nil {
		return unwrapPathError(err)
	}
	// After chown, which clears setuid and setgid bits.
	return unix.Chmod(p, f.Mode&0o7777)
}
