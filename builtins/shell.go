package builtins

import (
	"context"
	"errors"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/runtime"
)

// Terminal is the user's terminal as an interactive front end (the REPL)
// lends it to the builtins that need one, such as m.shell().
type Terminal = runtime.Terminal

// terminalKey is the thread-local of the Terminal (see SetTerminal).
const terminalKey = "github.com/vmtest/vmtest/builtins.terminal"

// SetTerminal lends t to the builtins called on thread. A thread without
// one (vmtest run) has no terminal: m.shell() says so.
func SetTerminal(thread *starlark.Thread, t Terminal) {
	thread.SetLocal(terminalKey, t)
}

// shell() runs root's login shell in the machine on the user's terminal
// and returns when it exits or the user presses Ctrl-].
func (m *Machine) shell(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := unpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	term, _ := thread.Local(terminalKey).(Terminal)
	if term == nil {
		return nil, wrap(b, errors.New("needs an interactive terminal: use it in vmtest repl or vmtest attach, not in vmtest run"))
	}
	return starlark.None, m.do(thread, b, 0, func(ctx context.Context, rm *runtime.Machine) error {
		_, err := rm.Shell(ctx, term)
		return err
	})
}
