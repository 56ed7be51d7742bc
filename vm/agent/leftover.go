//go:build linux

package agent

import (
	"bytes"
	"io"
	"os"
	"sync"

	"github.com/vmtest/vmtest/vm/wire"
)

// chunk is what a program wrote to one of its output pipes.
type chunk struct {
	typ  wire.Type // wire.TypeStdout or wire.TypeStderr
	data []byte
}

// readOutput reads a program's stdout and stderr pipes, each on a
// goroutine of its own, into the channel it returns, which is closed once
// both reached end of file (or were closed). Whoever receives from the
// channel owns those goroutines: it must receive until the channel is
// closed (closing the pipes ends them).
func readOutput(stdout, stderr *os.File) <-chan chunk {
	out := make(chan chunk, 4)
	var readers sync.WaitGroup
	read := func(f *os.File, typ wire.Type) {
		defer readers.Done()
		buf := make([]byte, 32<<10)
		for {
			n, err := f.Read(buf)
			if n > 0 {
				out <- chunk{typ: typ, data: bytes.Clone(buf[:n])}
			}
			if err != nil {
				return
			}
		}
	}
	readers.Add(2)
	go read(stdout, wire.TypeStdout)
	go read(stderr, wire.TypeStderr)
	go func() { readers.Wait(); close(out) }()
	return out
}

// leftovers are the output pipes of commands that returned while a
// background process they started still held them (`daemon &`). The
// agent keeps reading them, as the NixOS test driver's shell does, and
// writes what comes to the console (each line whole, as the process wrote
// it), so that such a process never dies of SIGPIPE on a write after its
// command returned, and its output is in the machine's console log.
// Every goroutine it starts ends by close.
type leftovers struct {
	console   func() io.Writer // where lines go
	consoleMu *sync.Mutex      // shared by every writer of whole lines to the console

	wg     sync.WaitGroup
	mu     sync.Mutex
	files  map[*os.File]bool // the pipes still read
	closed bool
}

// adopt forwards out, the output of a command that has returned (read
// from the pipes files), to the console until end of file.
func (l *leftovers) adopt(out <-chan chunk, files ...*os.File) {
	l.mu.Lock()
	if l.files == nil {
		l.files = map[*os.File]bool{}
	}
	for _, f := range files {
		if l.closed {
			f.Close() // the server has stopped: nothing is read any more
		} else {
			l.files[f] = true
		}
	}
	l.mu.Unlock()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		lines := map[wire.Type]*consoleLines{}
		for c := range out {
			lw := lines[c.typ]
			if lw == nil {
				lw = &consoleLines{w: l.console(), mu: l.consoleMu}
				lines[c.typ] = lw
			}
			lw.write(c.data)
		}
		for _, lw := range lines {
			lw.flush()
		}
		l.mu.Lock()
		for _, f := range files {
			f.Close()
			delete(l.files, f)
		}
		l.mu.Unlock()
	}()
}

// close stops reading: the pipes are closed (a process that writes to one
// later gets EPIPE) and the forwarding goroutines waited for.
func (l *leftovers) close() {
	l.mu.Lock()
	l.closed = true
	for f := range l.files {
		f.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// consoleLines writes whole lines to a console shared with others: a
// line is written once its newline came (or at flush), under mu. A line
// longer than maxLine is cut there.
type consoleLines struct {
	w    io.Writer
	mu   *sync.Mutex
	line []byte
}

func (c *consoleLines) write(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			c.line = append(c.line, b[:min(len(b), maxLine-len(c.line))]...)
			return
		}
		c.line = append(c.line, b[:min(i, maxLine-len(c.line))]...)
		b = b[i+1:]
		c.flush()
	}
}

// flush writes the line gathered so far, if any, with a newline.
func (c *consoleLines) flush() {
	if len(c.line) == 0 {
		return
	}
	c.mu.Lock()
	c.w.Write(append(c.line, '\n'))
	c.mu.Unlock()
	c.line = c.line[:0]
}
