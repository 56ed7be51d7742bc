// Package lang is the vmtest dialect of Starlark and its module loader.
//
// It knows nothing about virtual machines: the names a script can call
// (machine, start_all, ...) arrive from the caller as a
// starlark.StringDict of predeclared values. This package decides how a
// file is parsed (Options), how load() finds and caches modules
// (Loader), how execution is cancelled (BindContext, Context), and how
// errors are shown to a user (FormatError, Suggest).
//
// # Dialect
//
// Scripts read like the NixOS Python test scripts, so the dialect turns
// on every Starlark extension that makes that possible; see Options.
//
// # load() resolution
//
// A load("M", ...) statement in a file F resolves M as follows:
//
//   - "@stdlib//name.star": the file name.star of the embedded standard
//     library (Config.Stdlib). No other "@repo//" prefix is known.
//   - an absolute path: that file.
//   - a path beginning with "./" or "../": relative to the directory of
//     F, and nowhere else.
//   - any other relative path ("mylib/x.star"): relative to the directory
//     of F if that file exists, otherwise each directory of
//     Config.LibPath in order (see LibPath), first match wins.
//
// Inside an @stdlib module, relative paths resolve within the embedded
// library only. A load from a thread that is not executing a module
// (NewThread, e.g. a REPL) resolves relative paths against the current
// directory.
//
// Each module is executed at most once per Loader, even when several
// threads load it at the same time; later loads share its (frozen)
// globals or its error. A module whose execution was cancelled is
// forgotten, so a later load runs it again. Cycles are errors naming the
// chain: "load cycle: a.star -> b.star -> a.star". A module is identified
// by its absolute path (symbolic links are not resolved) or its @stdlib
// name; it is shown, in positions and messages, by the path through which
// it was first found: the main file's path as given, joined with the
// relative paths of the loads or with the library directory.
//
// A missing module's error says where the Loader looked:
// "mylib/x.star not found (looked in DIR, LIBDIR...; add a library
// directory with -L DIR or VMTEST_PATH=DIR1:DIR2)".
//
// # Errors
//
// Errors from Exec and Load carry their position: Error() is
// "file:line:col: message". FormatError adds the traceback through calls
// and loads, and lists every resolver error. Undefined names get a
// "(did you mean x?)" hint drawn from the file's names, the predeclared
// names and the Starlark universe; unknown attributes and keyword
// arguments get one from Starlark itself (see UnexpectedKeyword).
package lang

import "go.starlark.net/syntax"

// Options returns the file options of the vmtest dialect; the result is
// a new value each call, which the caller may modify.
//
// On:
//   - TopLevelControl: if, for and while statements at top level;
//   - While: while loops;
//   - GlobalReassign: a top-level name may be assigned more than once;
//   - Recursion: functions may call themselves (directly or not);
//   - Set: the set() built-in and the set type.
//
// Off: LoadBindsGlobally (deprecated in Starlark; names bound by load()
// stay local to the file that loads them).
func Options() *syntax.FileOptions {
	return &syntax.FileOptions{
		Set:             true,
		While:           true,
		TopLevelControl: true,
		GlobalReassign:  true,
		Recursion:       true,
	}
}
