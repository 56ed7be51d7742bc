package lines

import (
	"bytes"
	"sync"
)

// Tail keeps the last Max bytes written to it: the end of a program's
// output (QEMU's, a command's stderr) for an error report. Safe for
// concurrent use; writes never fail.
type Tail struct {
	Max int

	mu      sync.Mutex
	b       []byte
	dropped bool
}

// NewTail returns a Tail that keeps max bytes.
func NewTail(max int) *Tail { return &Tail{Max: max} }

func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 2*t.Max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.Max:]...)
		t.dropped = true
	}
	return len(p), nil
}

// String returns the kept bytes; when some were dropped, from the first
// line start on.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, dropped := t.b, t.dropped
	if len(b) > t.Max {
		b, dropped = b[len(b)-t.Max:], true
	}
	if dropped {
		if i := bytes.IndexByte(b, '\n'); i >= 0 && i+1 < len(b) {
			b = b[i+1:]
		}
	}
	return string(b)
}
