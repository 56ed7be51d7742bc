//go:build linux

package agent

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// outputLines is how many of a job's last output lines its status keeps.
const outputLines = 50

// maxLine bounds one line of job output; a longer one is cut.
const maxLine = 64 << 10

// jobOutput is what a job has printed: the last lines (across its
// restarts) and the watchers of the current start, waiting for a line to
// match a pattern. Safe for concurrent use.
type jobOutput struct {
	mu       sync.Mutex
	lines    []string
	watchers []*logWatch
}

// logWatch is a readiness condition on the job's output.
type logWatch struct {
	re      *regexp.Regexp
	matched chan struct{} // closed at the first matching line
}

// add records one line and wakes the watchers it matches.
func (o *jobOutput) add(line string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lines = append(o.lines, line)
	if len(o.lines) > 2*outputLines {
		o.lines = append([]string(nil), o.lines[len(o.lines)-outputLines:]...)
	}
	kept := o.watchers[:0]
	for _, w := range o.watchers {
		if w.re.MatchString(line) {
			close(w.matched)
		} else {
			kept = append(kept, w)
		}
	}
	o.watchers = kept
}

// watch returns a channel closed when a line written from now on matches
// re.
func (o *jobOutput) watch(re *regexp.Regexp) *logWatch {
	w := &logWatch{re: re, matched: make(chan struct{})}
	o.mu.Lock()
	o.watchers = append(o.watchers, w)
	o.mu.Unlock()
	return w
}

// unwatch drops the watchers of a start that is over.
func (o *jobOutput) unwatch() {
	o.mu.Lock()
	o.watchers = nil
	o.mu.Unlock()
}

// tail returns the last lines, at most outputLines.
func (o *jobOutput) tail() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.lines[max(0, len(o.lines)-outputLines):]...)
}

// sinks are where one start of a job writes its output: the write ends
// of two pipes handed to every process of the start, and the goroutines
// that read them line by line into the job's output and its destinations
// (files, or the console with the job's name before each line).
type sinks struct {
	outW, errW *os.File // given to the processes; closed by close
	outR, errR *os.File
	files      []*os.File
	readers    sync.WaitGroup
}

// openSinks makes the pipes and opens the destinations: stdout and stderr
// are files to append to ("" for the console, which is console).
func openSinks(name string, out *jobOutput, stdout, stderr string, console io.Writer, consoleMu *sync.Mutex) (*sinks, error) {
	s := &sinks{}
	dest := map[string]io.Writer{}
	open := func(path string) (io.Writer, error) {
		if path == "" {
			return &prefixWriter{w: console, mu: consoleMu, prefix: "[" + name + "] "}, nil
		}
		if w, ok := dest[path]; ok {
			return w, nil // stdout and stderr to one file: one descriptor, lines whole
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("output file %s: %w", path, unwrapPathError(err))
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("output file %s: %w", path, unwrapPathError(err))
		}
		s.files = append(s.files, f)
		w := &prefixWriter{w: f, mu: &sync.Mutex{}}
		dest[path] = w
		return w, nil
	}
	wout, err := open(stdout)
	if err != nil {
		s.close()
		return nil, err
	}
	werr, err := open(stderr)
	if err != nil {
		s.close()
		return nil, err
	}
	if s.outR, s.outW, err = os.Pipe(); err != nil {
		s.close()
		return nil, err
	}
	if s.errR, s.errW, err = os.Pipe(); err != nil {
		s.close()
		return nil, err
	}
	s.readers.Add(2)
	go s.copyLines(s.outR, wout, out)
	go s.copyLines(s.errR, werr, out)
	return s, nil
}

// copyLines reads lines from r until end of file, recording each in out
// and writing it to w.
func (s *sinks) copyLines(r io.Reader, w io.Writer, out *jobOutput) {
	defer s.readers.Done()
	br := bufio.NewReaderSize(r, 4096)
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) <= maxLine {
			line = append(line, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if len(line) > 0 {
			text := string(line)
			if text[len(text)-1] == '\n' {
				text = text[:len(text)-1]
			}
			out.add(text)
			w.Write(append([]byte(text), '\n'))
			line = line[:0]
		}
		if err != nil {
			return
		}
	}
}

// drainGraceJob bounds how long close waits for the readers after the
// agent closed its write ends: a process that escaped the job may still
// hold them.
const drainGraceJob = time.Second

// close ends the start's output: the agent's write ends are closed, the
// readers finish (at end of file, or after drainGraceJob), the files are
// closed.
func (s *sinks) close() {
	for _, f := range []*os.File{s.outW, s.errW} {
		if f != nil {
			f.Close()
		}
	}
	done := make(chan struct{})
	go func() { s.readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(drainGraceJob):
		for _, f := range []*os.File{s.outR, s.errR} {
			if f != nil {
				f.Close() // unblocks the readers
			}
		}
		<-done
	}
	for _, f := range []*os.File{s.outR, s.errR} {
		if f != nil {
			f.Close()
		}
	}
	for _, f := range s.files {
		f.Close()
	}
}

// prefixWriter writes whole lines, each with a prefix, under a lock
// shared by everything writing to the same destination.
type prefixWriter struct {
	w      io.Writer
	mu     *sync.Mutex
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.prefix == "" {
		return p.w.Write(b)
	}
	_, err := p.w.Write(append([]byte(p.prefix), b...))
	return len(b), err
}
