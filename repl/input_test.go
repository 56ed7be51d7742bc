package repl

import (
	"context"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestInputTakesTurns reads a pipe as the terminal: a raw reader takes
// what is typed while it reads, stops when told, and what is typed after
// goes to the line reader.
func TestInputTakesTurns(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	in, err := newInput(int(r.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	buf := make([]byte, 64)

	w.WriteString("line\n")
	if n, err := (lineReader{in}).Read(buf); err != nil || string(buf[:n]) != "line\n" {
		t.Fatalf("line reader: %q, %v", buf[:n], err)
	}

	var stopped atomic.Bool
	got := make(chan string, 1)
	go func() {
		var all []byte
		for {
			n, err := in.read(buf, stopped.Load)
			all = append(all, buf[:n]...)
			if err != nil {
				got <- string(all)
				return
			}
		}
	}()
	w.WriteString("raw keys")
	time.Sleep(100 * time.Millisecond)
	stopped.Store(true)
	in.wake()
	select {
	case s := <-got:
		if s != "raw keys" {
			t.Errorf("raw reader got %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the raw reader did not stop")
	}

	w.WriteString("after\n")
	if n, err := (lineReader{in}).Read(buf); err != nil || string(buf[:n]) != "after\n" {
		t.Fatalf("line reader after the raw one: %q, %v", buf[:n], err)
	}
}

// backendFunc evaluates with a function; it completes nothing.
type backendFunc func(src string, term Terminal) bool

func (f backendFunc) Eval(_ context.Context, src string, term Terminal) (bool, error) {
	return f(src, term), nil
}

func (backendFunc) Complete(string, int) ([]string, int) { return nil, 0 }

// TestRunScript reads chunks from input that is not a terminal and stops
// at the first that fails.
func TestRunScript(t *testing.T) {
	var chunks []string
	b := backendFunc(func(src string, term Terminal) bool {
		chunks = append(chunks, src)
		io.WriteString(term, "ran\n")
		return !strings.Contains(src, "fail")
	})
	var out strings.Builder
	err := runScript(t.Context(), b, strings.NewReader("a = 1\n\nif a:\n  b = 2\nc = 3\nfail()\nnever()\n"), &out)
	want := []string{"a = 1\n", "if a:\n  b = 2\nc = 3\n", "fail()\n"}
	if err != ErrStatementFailed || strings.Join(chunks, "|") != strings.Join(want, "|") || out.String() != "ran\nran\nran\n" {
		t.Errorf("got %v, chunks %q, output %q; want ErrStatementFailed, %q", err, chunks, out.String(), want)
	}
	chunks = nil
	if err := runScript(t.Context(), b, strings.NewReader("x = 1"), &out); err != nil || len(chunks) != 1 {
		t.Errorf("a last line without newline: %v, %q", err, chunks)
	}
}
