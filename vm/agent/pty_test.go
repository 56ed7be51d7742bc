//go:build linux

package agent

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmtest/vmtest/vm/wire"
)

// ttyInput is the stdin of an exec on a terminal: lines sent when the
// output shows what they wait for, and window sizes.
type ttyInput struct {
	r       *io.PipeReader
	w       *io.PipeWriter
	resizes chan wire.WinSize
}

func newTTYInput() *ttyInput {
	r, w := io.Pipe()
	return &ttyInput{r: r, w: w, resizes: make(chan wire.WinSize, 1)}
}

func (in *ttyInput) Read(p []byte) (int, error)   { return in.r.Read(p) }
func (in *ttyInput) Resizes() <-chan wire.WinSize { return in.resizes }
func (in *ttyInput) type_(s string)               { go in.w.Write([]byte(s)) }
func (in *ttyInput) hangUp()                      { in.w.Close() }
func (in *ttyInput) resize(rows, cols uint16)     { in.resizes <- wire.WinSize{Rows: rows, Cols: cols} }

var _ wire.Resizer = (*ttyInput)(nil)

// screen collects a terminal's output and waits for text to appear.
type screen struct {
	mu   sync.Mutex
	b    strings.Builder
	more chan struct{}
}

func newScreen() *screen { return &screen{more: make(chan struct{}, 1)} }

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.b.Write(p)
	s.mu.Unlock()
	select {
	case s.more <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *screen) waitFor(t *testing.T, text string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for !strings.Contains(s.String(), text) {
		select {
		case <-s.more:
		case <-deadline:
			t.Fatalf("the terminal never showed %q; it shows %q", text, s.String())
		}
	}
}

// TestExecOnTerminal runs a shell on a terminal: it is a terminal of the
// size asked for, typed input reaches it, a resize is seen, and the exit
// status comes back.
func TestExecOnTerminal(t *testing.T) {
	c := serve(t)
	in, out := newTTYInput(), newScreen()
	type result struct {
		res wire.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := c.Call(context.Background(), wire.Request{
			Op:    wire.OpExec,
			Shell: `test -t 0 && echo is-a-tty; stty size; read line; echo "got $line"; read x; stty size; exit 7`,
			TTY:   &wire.WinSize{Rows: 30, Cols: 100},
		}, in, out, nil)
		done <- result{res, err}
	}()
	out.waitFor(t, "30 100")
	in.type_("hello\n")
	out.waitFor(t, "got hello")
	in.resize(40, 120)
	time.Sleep(100 * time.Millisecond) // the resize frame goes before the next input
	in.type_("\n")
	out.waitFor(t, "40 120")
	r := <-done
	if r.err != nil || r.res.Exit != 7 || !strings.Contains(out.String(), "is-a-tty") {
		t.Fatalf("got %+v, %v; screen %q", r.res, r.err, out.String())
	}
}

// TestTerminalHangUp ends the input of a program that never exits by
// itself: it is hung up (SIGHUP), and the call returns.
func TestTerminalHangUp(t *testing.T) {
	c := serve(t)
	in, out := newTTYInput(), newScreen()
	done := make(chan wire.Result, 1)
	go func() {
		res, _ := c.Call(context.Background(), wire.Request{Op: wire.OpExec, Shell: "echo ready; exec sleep 600", TTY: &wire.WinSize{Rows: 24, Cols: 80}}, in, out, nil)
		done <- res
	}()
	out.waitFor(t, "ready")
	in.hangUp()
	select {
	case res := <-done:
		if res.Signal != "SIGHUP" {
			t.Fatalf("got %+v, want killed by SIGHUP", res)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the call did not end after the terminal was hung up")
	}
}
