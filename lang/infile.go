package lang

import "go.starlark.net/starlark"

// InFile makes load() statements run on thread (one from
// Loader.NewThread) resolve module names as the file at path does:
// relative paths against its directory, then the library path, until
// restore is called. A REPL uses it to run statements of a test file (its
// loads, its script) at the prompt.
func InFile(thread *starlark.Thread, path string) (restore func(), err error) {
	loc, err := fileLocation(path)
	if err != nil {
		return nil, err
	}
	prev := thread.Local(moduleKey)
	thread.SetLocal(moduleKey, loc)
	return func() { thread.SetLocal(moduleKey, prev) }, nil
}
