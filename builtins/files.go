package builtins

import (
	"fmt"
	"path"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/runtime"
	"github.com/vmtest/vmtest/vm/wire"
)

// fileKeys are the keys of a file's dict in files = {...}: one of the
// first four says what the path is, the others how.
var fileKeys = []string{"content", "append", "directory", "symlink", "mode", "owner", "group"}

// setFiles reads files = {guest_path: what}, where what is a string (or
// bytes): the file's content; or a dict of fileKeys.
func setFiles(s *runtime.Spec, v starlark.Value) error {
	items, err := dictItems(v, "guest paths to contents")
	if err != nil {
		return err
	}
	s.Files = nil
	for _, it := range items {
		p := string(it[0].(starlark.String))
		if err := runtime.CheckGuestPath(p); err != nil {
			return err
		}
		f := runtime.File{File: wire.File{Path: path.Clean(p), Mode: 0o644}}
		switch c := it[1].(type) {
		case starlark.String:
			f.Data = []byte(c)
		case starlark.Bytes:
			f.Data = []byte(c)
		case *starlark.Dict:
			if err := fileDict(&f, c); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		default:
			return fmt.Errorf("%s: want a string or a dict with content (or append, directory, symlink), mode, owner, group; got %s", p, c.Type())
		}
		s.Files = append(s.Files, f)
	}
	return nil
}

// stringOrBytes returns a string or bytes value's contents.
func stringOrBytes(v starlark.Value) (string, bool) {
	if b, ok := v.(starlark.Bytes); ok {
		return string(b), true
	}
	return starlark.AsString(v)
}

func fileDict(f *runtime.File, d *starlark.Dict) error {
	items, err := dictItems(d, "file attributes")
	if err != nil {
		return err
	}
	var what []string // which of content, append, directory, symlink
	modeSet := false
	for _, it := range items {
		k, v := string(it[0].(starlark.String)), it[1]
		switch k {
		case "content", "append":
			c, ok := stringOrBytes(v)
			if !ok {
				return fmt.Errorf("%s: want a string, got %s", k, v.Type())
			}
			f.Data, f.Append = []byte(c), k == "append"
		case "directory":
			if v != starlark.True {
				return fmt.Errorf("directory: want True, got %s", v)
			}
			f.Kind = wire.FileDir
		case "symlink":
			target, ok := starlark.AsString(v)
			if !ok || target == "" {
				return fmt.Errorf("symlink: want the link's target (a path), got %s", v)
			}
			if err := runtime.CheckPath(target); err != nil {
				return fmt.Errorf("symlink: %w", err)
			}
			f.Kind, f.Data = wire.FileSymlink, []byte(target)
		case "mode":
			var mode int
			if err := starlark.AsInt(v, &mode); err != nil || mode < 0 || mode > 0o7777 {
				return fmt.Errorf("mode: want permission bits such as 0o755, got %s", v)
			}
			f.Mode, modeSet = uint32(mode), true
			continue
		case "owner", "group":
			var id string
			switch x := v.(type) {
			case starlark.String:
				id = string(x)
			case starlark.Int:
				n, ok := x.Int64()
				if !ok || n < 0 {
					return fmt.Errorf("%s: want a name or an id, got %s", k, v)
				}
				id = x.String()
			default:
				return fmt.Errorf("%s: want a name or an id, got %s", k, v.Type())
			}
			if k == "owner" {
				f.Owner = id
			} else {
				f.Group = id
			}
			continue
		default:
			return unexpectedKey("", k, fileKeys...)
		}
		what = append(what, k)
	}
	switch {
	case len(what) == 0:
		return fmt.Errorf("no content: want one of content, append, directory, symlink")
	case len(what) > 1:
		return fmt.Errorf("%s and %s: want only one", what[0], what[1])
	}
	if f.Kind == wire.FileDir && !modeSet {
		f.Mode = 0o755
	}
	if f.Kind == wire.FileSymlink && modeSet {
		return fmt.Errorf("mode: a symbolic link has none")
	}
	return nil
}
