// Package lines keeps what a machine prints as a bounded history of lines:
// the serial console that error reports quote and wait_for_console_text
// searches.
package lines

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"sync"
)

// History copies what is written to it to an output and keeps the last
// lines, at most maxLines of them and maxBytes in all, dropping the oldest
// first. Lines end at "\n" (a "\r" before it is dropped); an unfinished
// last line is kept apart and shown by Tail and matched by Wait. Safe for
// concurrent use.
type History struct {
	mu       sync.Mutex
	out      io.Writer
	onLine   func(string) // called with each complete line, under mu
	maxLines int
	maxBytes int
	lines    []string
	size     int // bytes in lines
	dropped  int // lines dropped from the front
	partial  []byte
	changed  chan struct{} // closed and replaced on every write
}

var _ io.Writer = (*History)(nil)

// New returns a History copying to out (nil: nowhere) and keeping at most
// maxLines lines and maxBytes bytes. onLine, if not nil, sees each complete
// line as it arrives; it must not call back into the History.
func New(out io.Writer, maxLines, maxBytes int, onLine func(line string)) *History {
	if out == nil {
		out = io.Discard
	}
	return &History{out: out, onLine: onLine, maxLines: maxLines, maxBytes: maxBytes, changed: make(chan struct{})}
}

// SetOut sets where the History copies to, if it was created without an
// output.
func (h *History) SetOut(w io.Writer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.out == io.Discard {
		h.out = w
	}
}

func (h *History) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.out.Write(p)
	h.partial = append(h.partial, p...)
	for {
		i := bytes.IndexByte(h.partial, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(h.partial[:i]), "\r")
		h.partial = h.partial[i+1:]
		if h.onLine != nil {
			h.onLine(line)
		}
		h.lines = append(h.lines, line)
		h.size += len(line)
	}
	for len(h.lines) > h.maxLines || h.size > h.maxBytes {
		h.size -= len(h.lines[0])
		h.lines[0] = ""
		h.lines = h.lines[1:]
		h.dropped++
	}
	close(h.changed)
	h.changed = make(chan struct{})
	return len(p), nil
}

// Tail returns up to n of the last lines, oldest first, with an unfinished
// last line.
func (h *History) Tail(n int) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := append([]string(nil), h.lines[max(0, len(h.lines)-n):]...)
	if len(h.partial) > 0 {
		out = append(out, strings.TrimRight(string(h.partial), "\r"))
	}
	return out[max(0, len(out)-n):]
}

// Text returns the whole history (within its bounds): its lines, each
// with its "\n", then an unfinished last line.
func (h *History) Text() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, l := range h.lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.WriteString(strings.TrimRight(string(h.partial), "\r"))
	return b.String()
}

// Wait returns the first line of the history (within its bounds) that re
// matches, waiting for one until ctx is done. An unfinished last line (a
// prompt) is matched too.
func (h *History) Wait(ctx context.Context, re *regexp.Regexp) (string, error) {
	next := 0 // absolute index of the next complete line to look at
	for {
		h.mu.Lock()
		for i := max(next-h.dropped, 0); i < len(h.lines); i++ {
			if re.MatchString(h.lines[i]) {
				line := h.lines[i]
				h.mu.Unlock()
				return line, nil
			}
		}
		next = h.dropped + len(h.lines)
		if p := strings.TrimRight(string(h.partial), "\r"); p != "" && re.MatchString(p) {
			h.mu.Unlock()
			return p, nil
		}
		changed := h.changed
		h.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return "", context.Cause(ctx)
		}
	}
}
