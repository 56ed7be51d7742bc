package runtime

import (
	"context"
	"io"

	"github.com/vmtest/vmtest/vm/guest"
	"github.com/vmtest/vmtest/vm/wire"
)

// TTY is the user's terminal, in raw mode, lent to an interactive program
// in a guest (Machine.Shell).
type TTY interface {
	// Read returns the user's keystrokes; io.EOF when the user leaves
	// (Ctrl-]), which hangs the guest's terminal up.
	io.Reader
	// Write shows the program's output.
	io.Writer
	// Size is the terminal's size now; Resizes reports each change.
	Size() wire.WinSize
	Resizes() <-chan wire.WinSize
	// Term is the terminal's type, its $TERM ("" if unknown).
	Term() string
}

// Terminal is the user's terminal, which interactive methods (Shell)
// borrow.
type Terminal interface {
	// Raw puts the terminal in raw mode and returns it as a TTY, until
	// restore is called.
	Raw() (tty TTY, restore func(), err error)
}

// ttyStdin is a TTY as the stdin of a wire call: its size changes go to
// the guest (wire.Resizer).
type ttyStdin struct{ TTY }

var _ wire.Resizer = ttyStdin{}

// Shell runs the login shell of root on a new terminal in the guest,
// connected to the user's terminal (in raw mode meanwhile), until it
// exits or the user leaves, and returns its exit status. The machine is
// booted first if need be; its env applies, and TERM is the user's.
func (m *Machine) Shell(ctx context.Context, term Terminal) (int, error) {
	g, err := m.guest(ctx)
	if err != nil {
		return 0, err
	}
	m.net.log.Machinef(m.Name(), "shell (exit or Ctrl-] to return)")
	tty, restore, err := term.Raw()
	if err != nil {
		return 0, m.errorf(err, "shell: %v", err)
	}
	env := append([]string(nil), m.spec.Env...)
	if t := tty.Term(); t != "" {
		env = append(env, "TERM="+t)
	}
	size := tty.Size()
	res, err := g.Exec(ctx, guest.Command{Env: env, TTY: &size, Stdin: ttyStdin{tty}, Stdout: tty})
	restore()
	if err != nil {
		return 0, m.callFailed(ctx, err, "shell", 0)
	}
	m.net.log.Machinef(m.Name(), "shell ended (%s)", Output{Exit: res.Exit, Signal: res.Signal}.status())
	return res.Exit, nil
}
