package builtins

import (
	"fmt"

	"go.starlark.net/starlark"
)

// replayKey is the thread-local set by Replay.
const replayKey = "github.com/vmtest/vmtest/builtins.replay"

// Replay makes machine() and machines() called on thread return the
// machines already declared under their names, instead of declaring
// them, until restore is called: test_script() at the prompt runs the
// test file again on the network it made. Their configuration is not
// evaluated again; a name that was not declared is an error.
func Replay(thread *starlark.Thread) (restore func()) {
	prev := thread.Local(replayKey)
	thread.SetLocal(replayKey, true)
	return func() { thread.SetLocal(replayKey, prev) }
}

// redeclare returns the machine called name for a declaration replayed
// on thread (see Replay), or ok false if thread is not replaying.
func (s *Script) redeclare(thread *starlark.Thread, fnname, name string) (d *decl, ok bool, err error) {
	if thread == nil || thread.Local(replayKey) != true {
		return nil, false, nil
	}
	if d := s.byName[name]; d != nil {
		return d, true, nil
	}
	return nil, true, fmt.Errorf("%s: %q was not declared when the network was made, and its machines cannot change now (start again to add one)", fnname, name)
}
