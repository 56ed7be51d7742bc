package main

import (
	"bytes"
	"io"
	"sync"
)

// prefixWriter writes each line to w with a prefix (a machine's name), so
// the consoles of several machines can share one terminal.
type prefixWriter struct {
	mu      sync.Mutex
	w       io.Writer
	prefix  []byte
	midLine bool
}

func newPrefixWriter(w io.Writer, prefix string) *prefixWriter {
	return &prefixWriter{w: w, prefix: []byte(prefix)}
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(b)
	var out []byte
	for len(b) > 0 {
		if !p.midLine {
			out = append(out, p.prefix...)
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out = append(out, b...)
			p.midLine = true
			break
		}
		out = append(out, b[:i+1]...)
		b = b[i+1:]
		p.midLine = false
	}
	_, err := p.w.Write(out)
	return n, err
}
