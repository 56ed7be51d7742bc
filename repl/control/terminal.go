package control

import (
	"encoding/json"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/vmtest/vmtest/repl"
	"github.com/vmtest/vmtest/runtime"
	"github.com/vmtest/vmtest/vm/wire"
)

// rawAnswerTimeout bounds the wait for a client to put its terminal in
// raw mode.
const rawAnswerTimeout = 30 * time.Second

// remoteTerm is the terminal of a client, for one evaluation: output
// frames, and raw sessions over mode, input and size frames.
type remoteTerm struct {
	c  *conn
	id uint32

	mu  sync.Mutex
	tty *remoteTTY // the raw session, if one runs
}

var _ repl.Terminal = (*remoteTerm)(nil)

func (t *remoteTerm) Write(p []byte) (int, error) {
	if err := t.c.w.Data(t.id, typeOutput, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Raw implements builtins.Terminal: it asks the client to go raw and
// waits for its answer, the terminal's size.
func (t *remoteTerm) Raw() (runtime.TTY, func(), error) {
	tty := newRemoteTTY(t)
	t.mu.Lock()
	t.tty = tty
	t.mu.Unlock()
	end := func() {
		t.mu.Lock()
		t.tty = nil
		t.mu.Unlock()
		tty.hangUp()
	}
	if err := t.c.w.JSON(t.id, typeMode, Mode{Raw: true}); err != nil {
		end()
		return nil, nil, err
	}
	timer := time.NewTimer(rawAnswerTimeout)
	defer timer.Stop()
	select {
	case <-tty.ready:
	case <-tty.refused:
		end()
		return nil, nil, errors.New("the attached client's terminal cannot go raw (its standard input is not a terminal?)")
	case <-timer.C:
		end()
		return nil, nil, errors.New("the attached client did not put its terminal in raw mode")
	}
	return tty, func() {
		end()
		t.c.w.JSON(t.id, typeMode, Mode{Raw: false})
	}, nil
}

// input hands keystrokes to the raw session, if one runs.
func (t *remoteTerm) input(p []byte) {
	t.mu.Lock()
	tty := t.tty
	t.mu.Unlock()
	if tty != nil {
		tty.push(p)
	}
}

// size hands a size frame to the raw session, if one runs.
func (t *remoteTerm) size(payload []byte) {
	var sz Size
	if json.Unmarshal(payload, &sz) != nil {
		return
	}
	t.mu.Lock()
	tty := t.tty
	t.mu.Unlock()
	if tty != nil {
		tty.resize(sz)
	}
}

// hangUp ends the raw session, if one runs: the client went away.
func (t *remoteTerm) hangUp() {
	t.mu.Lock()
	tty := t.tty
	t.mu.Unlock()
	if tty != nil {
		tty.hangUp()
	}
}

// remoteTTY is a client's terminal in raw mode, as a runtime.TTY.
type remoteTTY struct {
	t *remoteTerm

	mu      sync.Mutex
	cond    *sync.Cond
	chunks  [][]byte
	eof     bool
	size    wire.WinSize
	term    string
	sized   bool
	ready   chan struct{} // closed at the first size frame
	refused chan struct{} // closed at end of input before any size frame
	resizes chan wire.WinSize
}

var _ runtime.TTY = (*remoteTTY)(nil)

func newRemoteTTY(t *remoteTerm) *remoteTTY {
	tty := &remoteTTY{t: t, ready: make(chan struct{}), refused: make(chan struct{}), resizes: make(chan wire.WinSize, 1)}
	tty.cond = sync.NewCond(&tty.mu)
	return tty
}

func (tty *remoteTTY) push(p []byte) {
	tty.mu.Lock()
	defer tty.mu.Unlock()
	if tty.eof {
		return
	}
	if len(p) == 0 {
		tty.eofLocked()
		return
	}
	tty.chunks = append(tty.chunks, append([]byte(nil), p...))
	tty.cond.Broadcast()
}

func (tty *remoteTTY) eofLocked() {
	tty.eof = true
	if !tty.sized {
		close(tty.refused)
	}
	tty.cond.Broadcast()
}

// hangUp ends the input.
func (tty *remoteTTY) hangUp() {
	tty.mu.Lock()
	defer tty.mu.Unlock()
	if !tty.eof {
		tty.eofLocked()
	}
}

func (tty *remoteTTY) resize(sz Size) {
	tty.mu.Lock()
	defer tty.mu.Unlock()
	if tty.eof {
		return
	}
	tty.size = sz.WinSize
	if !tty.sized {
		tty.sized, tty.term = true, sz.Term
		close(tty.ready)
		return
	}
	for {
		select {
		case tty.resizes <- sz.WinSize:
			return
		default:
		}
		select {
		case <-tty.resizes:
		default:
		}
	}
}

// Read returns the client's keystrokes; io.EOF when the user left.
func (tty *remoteTTY) Read(p []byte) (int, error) {
	tty.mu.Lock()
	defer tty.mu.Unlock()
	for len(tty.chunks) == 0 && !tty.eof {
		tty.cond.Wait()
	}
	if len(tty.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, tty.chunks[0])
	if n == len(tty.chunks[0]) {
		tty.chunks = tty.chunks[1:]
	} else {
		tty.chunks[0] = tty.chunks[0][n:]
	}
	return n, nil
}

func (tty *remoteTTY) Write(p []byte) (int, error) { return tty.t.Write(p) }

func (tty *remoteTTY) Size() wire.WinSize {
	tty.mu.Lock()
	defer tty.mu.Unlock()
	return tty.size
}

func (tty *remoteTTY) Resizes() <-chan wire.WinSize { return tty.resizes }

func (tty *remoteTTY) Term() string {
	tty.mu.Lock()
	defer tty.mu.Unlock()
	return tty.term
}
