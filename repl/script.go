package repl

import (
	"fmt"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/builtins"
	"github.com/vmtest/vmtest/lang"
)

// testScript is test_script(): it runs the test file again, read afresh
// (so edits take effect), on the prompt's globals and the live network:
// machine() and machines() return the machines declared when the network
// was made (builtins.Replay), and every other statement runs as in
// vmtest run.
func (s *Session) testScript(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
		return nil, err
	}
	if s.cfg.File == "" {
		return nil, fmt.Errorf("%s: this prompt has no test file", b.Name())
	}
	f, err := s.parseFile()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	restore, err := lang.InFile(thread, s.cfg.File)
	if err != nil {
		return nil, err
	}
	defer restore()
	defer builtins.Replay(thread)()
	return starlark.None, s.cfg.Loader.Hint(starlark.ExecREPLChunk(f, thread, s.globals))
}
