package repl

import (
	"io"
	"sync"
)

// Output is the terminal side of a network's log: while a statement is
// evaluated, what the log prints goes to that statement's terminal, and
// otherwise to a default writer (the terminal of an in-process prompt, a
// daemon's log file, or nowhere). Safe for concurrent use.
type Output struct {
	mu  sync.Mutex
	def io.Writer
	cur io.Writer
}

var _ io.Writer = (*Output)(nil)

// NewOutput returns an Output whose default writer is def (nil: discard).
func NewOutput(def io.Writer) *Output { return &Output{def: def} }

// SetDefault changes the default writer and returns the previous one.
func (o *Output) SetDefault(w io.Writer) (prev io.Writer) {
	o.mu.Lock()
	defer o.mu.Unlock()
	prev, o.def = o.def, w
	return prev
}

// use sends output to w until restore is called.
func (o *Output) use(w io.Writer) (restore func()) {
	o.mu.Lock()
	prev := o.cur
	o.cur = w
	o.mu.Unlock()
	return func() {
		o.mu.Lock()
		o.cur = prev
		o.mu.Unlock()
	}
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	w := o.cur
	if w == nil {
		w = o.def
	}
	if w == nil {
		return len(p), nil
	}
	w.Write(p) // a terminal that went away loses output, not the log
	return len(p), nil
}
