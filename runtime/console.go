package runtime

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"sync"
)

// History bounds: a machine's console history keeps at most this many
// lines and bytes, dropping the oldest first.
const (
	historyLines = 200_000
	historyBytes = 16 << 20
)

// console is the sink of one machine's serial console for the whole run,
// across reboots: it copies everything to the console log file and (with
// -v) to the terminal, and keeps a bounded history of lines that
// wait_for_console_text searches. Safe for concurrent use.
type console struct {
	mu      sync.Mutex
	out     io.Writer // log file, and terminal when live
	lines   []string
	size    int // bytes in lines
	dropped int // lines dropped from the front
	partial []byte
	changed chan struct{} // closed and replaced on every write
}

func newConsole(out io.Writer) *console {
	if out == nil {
		out = io.Discard
	}
	return &console{out: out, changed: make(chan struct{})}
}

// setOut sets where the console is copied to, if it was not set yet.
func (c *console) setOut(w io.Writer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.out == io.Discard {
		c.out = w
	}
}

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out.Write(p)
	c.partial = append(c.partial, p...)
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(c.partial[:i]), "\r")
		c.partial = c.partial[i+1:]
		c.lines = append(c.lines, line)
		c.size += len(line)
	}
	for len(c.lines) > historyLines || c.size > historyBytes {
		c.size -= len(c.lines[0])
		c.lines[0] = ""
		c.lines = c.lines[1:]
		c.dropped++
	}
	close(c.changed)
	c.changed = make(chan struct{})
	return len(p), nil
}

// Tail returns up to n of the last lines, with an unfinished last line.
func (c *console) Tail(n int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.lines[max(0, len(c.lines)-n):]
	out = append([]string(nil), out...)
	if len(c.partial) > 0 {
		out = append(out, strings.TrimRight(string(c.partial), "\r"))
	}
	return out[max(0, len(out)-n):]
}

// Wait returns the first line of the history (from the first boot on,
// within the history bounds) that re matches, waiting for one until ctx
// is done. An unfinished last line (a prompt) is matched too.
func (c *console) Wait(ctx context.Context, re *regexp.Regexp) (string, error) {
	next := 0 // absolute index of the next complete line to look at
	for {
		c.mu.Lock()
		start := max(next-c.dropped, 0)
		for i := start; i < len(c.lines); i++ {
			if re.MatchString(c.lines[i]) {
				line := c.lines[i]
				c.mu.Unlock()
				return line, nil
			}
		}
		next = c.dropped + len(c.lines)
		if p := strings.TrimRight(string(c.partial), "\r"); p != "" && re.MatchString(p) {
			c.mu.Unlock()
			return p, nil
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return "", context.Cause(ctx)
		}
	}
}
