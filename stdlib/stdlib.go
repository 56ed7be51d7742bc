// Package stdlib holds the vmtest standard library: Starlark modules
// embedded in the binary and loaded by scripts as "@stdlib//name.star".
//
//   - assert.star: assert_eq, assert_ne, assert_true, assert_false,
//     assert_in, assert_contains.
//   - shell.star: quote and join, POSIX shell quoting.
//   - http.star: get, status and wait_for_http, curl run on a machine.
//
// Each file documents its functions in its header comment and
// docstrings. The modules use only the Starlark universe and the machine
// methods of the script API, so they run under any lang.Loader.
package stdlib

import (
	"embed"
	"io/fs"
)

//go:embed *.star
var files embed.FS

// FS returns the library's files, one module per *.star file at the root,
// for lang.Config.Stdlib.
func FS() fs.FS { return files }
