package vm

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// consoleLines is how many console lines a machine remembers for error
// reports.
const consoleLines = 40

// console copies a machine's serial console to a sink and remembers its
// last lines. Safe for concurrent use.
type console struct {
	mu      sync.Mutex
	sink    io.Writer
	partial []byte
	lines   []string // ring of the last consoleLines complete lines
	next    int
	full    bool
	panic   string // the kernel's panic line, once one was printed
}

func newConsole(sink io.Writer) *console {
	if sink == nil {
		sink = io.Discard
	}
	return &console{sink: sink, lines: make([]string, consoleLines)}
}

var _ io.Writer = (*console)(nil)

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sink.Write(p)
	c.partial = append(c.partial, p...)
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(c.partial[:i]), "\r")
		if c.panic == "" {
			if j := strings.Index(line, "Kernel panic - not syncing:"); j >= 0 {
				c.panic = line[j:]
			}
		}
		c.lines[c.next] = line
		c.next = (c.next + 1) % consoleLines
		if c.next == 0 {
			c.full = true
		}
		c.partial = c.partial[i+1:]
	}
	return len(p), nil
}

// Tail returns up to n of the last console lines, oldest first, including
// an unfinished last line.
func (c *console) Tail(n int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	if c.full {
		out = append(out, c.lines[c.next:]...)
	}
	out = append(out, c.lines[:c.next]...)
	if len(c.partial) > 0 {
		out = append(out, string(c.partial))
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// Panic returns the guest kernel's panic message ("Kernel panic - not
// syncing: ..."), or "" if it has not panicked.
func (c *console) Panic() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.panic
}
