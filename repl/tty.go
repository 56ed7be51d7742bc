package repl

import (
	"bytes"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/runtime"
	"github.com/vmtest/vmtest/vm/wire"
)

// EscapeKey is the key that leaves a raw session (m.shell()) and returns
// to the prompt: Ctrl-], as in telnet and virsh console.
const EscapeKey = 0x1d

// localTerminal is the user's terminal in this process: statement output
// goes to w, and raw sessions read the input and write to out.
type localTerminal struct {
	w   io.Writer
	in  *input
	fd  int      // the terminal: standard input
	out *os.File // standard output
}

var _ Terminal = (*localTerminal)(nil)

func (t *localTerminal) Write(p []byte) (int, error) { return t.w.Write(p) }

// Raw implements builtins.Terminal.
func (t *localTerminal) Raw() (runtime.TTY, func(), error) {
	restoreMode, err := makeRaw(t.fd)
	if err != nil {
		return nil, nil, err
	}
	tty := openTTY(t.in, t.out)
	return tty, func() {
		tty.close()
		if tty.left.Load() {
			t.out.WriteString("\r\n") // the guest's last line may be a prompt
		}
		restoreMode()
	}, nil
}

// makeRaw puts the terminal fd in raw mode, as cfmakeraw(3) does:
// keystrokes arrive one by one and unprocessed (Ctrl-C is a byte, not
// SIGINT), output is not translated. restore puts back the mode it had.
func makeRaw(fd int) (restore func(), err error) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN] = 1
	raw.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, err
	}
	return func() { unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}

// rawTTY is a runtime.TTY on the local terminal (in raw mode): input
// from the shared input up to EscapeKey, output to out, size changes
// from SIGWINCH.
type rawTTY struct {
	in      *input
	out     *os.File
	stopped atomic.Bool // closed: reads end
	left    atomic.Bool // EscapeKey was typed
	resizes chan wire.WinSize
	sig     chan os.Signal
	done    chan struct{}
	wg      sync.WaitGroup
}

var _ runtime.TTY = (*rawTTY)(nil)

func openTTY(in *input, out *os.File) *rawTTY {
	t := &rawTTY{in: in, out: out, resizes: make(chan wire.WinSize, 1), sig: make(chan os.Signal, 1), done: make(chan struct{})}
	signal.Notify(t.sig, syscall.SIGWINCH)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		for {
			select {
			case <-t.sig:
				sendLatest(t.resizes, t.Size())
			case <-t.done:
				return
			}
		}
	}()
	return t
}

// Read returns keystrokes up to EscapeKey, then io.EOF.
func (t *rawTTY) Read(p []byte) (int, error) {
	if t.left.Load() {
		return 0, io.EOF
	}
	n, err := t.in.read(p, t.stopped.Load)
	if i := bytes.IndexByte(p[:n], EscapeKey); i >= 0 {
		t.left.Store(true)
		if i == 0 {
			return 0, io.EOF
		}
		return i, nil
	}
	return n, err
}

func (t *rawTTY) Write(p []byte) (int, error) { return t.out.Write(p) }

func (t *rawTTY) Size() wire.WinSize { return termSize(int(t.out.Fd())) }

func (t *rawTTY) Resizes() <-chan wire.WinSize { return t.resizes }

func (t *rawTTY) Term() string { return os.Getenv("TERM") }

// close ends reads in progress and the resize watch.
func (t *rawTTY) close() {
	t.stopped.Store(true)
	t.in.wake()
	signal.Stop(t.sig)
	close(t.done)
	t.wg.Wait()
}

// termSize returns the size of the terminal fd, 24x80 if it has none.
func termSize(fd int) wire.WinSize {
	ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
	if err != nil || ws.Row == 0 || ws.Col == 0 {
		return wire.WinSize{Rows: 24, Cols: 80}
	}
	return wire.WinSize{Rows: ws.Row, Cols: ws.Col}
}

// sendLatest puts ws in the one-slot channel ch, replacing a size not yet
// taken.
func sendLatest(ch chan wire.WinSize, ws wire.WinSize) {
	for {
		select {
		case ch <- ws:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}
