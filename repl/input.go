package repl

import (
	"errors"
	"io"
	"sync"

	"golang.org/x/sys/unix"
)

// input reads the user's terminal for two readers in turn: readline, and
// a raw session (m.shell()) while one runs. It reads only when a reader
// wants data, so keystrokes typed while neither reads (a statement is
// running) wait in the terminal for the next one; what a raw session
// leaves unread when it ends goes to readline. Its goroutine polls the
// terminal together with a pipe, so Close can end it: a plain Read of a
// terminal cannot be interrupted.
type input struct {
	fd   int
	stop [2]int // a pipe; closing its write end ends the goroutine

	mu     sync.Mutex
	cond   *sync.Cond
	buf    []byte // read, not yet consumed
	err    error  // the terminal's read error (end of input), after buf
	wanted bool   // a reader waits for data
	closed bool
	done   chan struct{}
}

// newInput starts reading the terminal fd (standard input) on demand.
func newInput(fd int) (*input, error) {
	in := &input{fd: fd, done: make(chan struct{})}
	in.cond = sync.NewCond(&in.mu)
	if err := unix.Pipe2(in.stop[:], unix.O_CLOEXEC); err != nil {
		return nil, err
	}
	go in.loop()
	return in, nil
}

func (in *input) loop() {
	defer close(in.done)
	buf := make([]byte, 4096)
	for {
		in.mu.Lock()
		for !in.wanted && !in.closed {
			in.cond.Wait()
		}
		closed := in.closed
		in.mu.Unlock()
		if closed {
			return
		}
		fds := []unix.PollFd{{Fd: int32(in.fd), Events: unix.POLLIN}, {Fd: int32(in.stop[0]), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			in.fail(err)
			return
		}
		if fds[1].Revents != 0 {
			return
		}
		n, err := unix.Read(in.fd, buf)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		if n == 0 && err == nil {
			err = io.EOF
		}
		in.mu.Lock()
		in.buf = append(in.buf, buf[:max(n, 0)]...)
		in.wanted = false
		in.err = err
		in.cond.Broadcast()
		in.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (in *input) fail(err error) {
	in.mu.Lock()
	in.err = err
	in.cond.Broadcast()
	in.mu.Unlock()
}

// read reads what the terminal has, waiting for it; it returns io.EOF
// when stop reports true (checked whenever the input changes, and after
// wake).
func (in *input) read(p []byte, stop func() bool) (int, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for len(in.buf) == 0 && in.err == nil {
		if in.closed || stop() {
			return 0, io.EOF
		}
		in.wanted = true
		in.cond.Broadcast()
		in.cond.Wait()
	}
	if len(in.buf) == 0 {
		return 0, in.err
	}
	n := copy(p, in.buf)
	in.buf = in.buf[n:]
	return n, nil
}

// wake makes waiting readers check their stop condition.
func (in *input) wake() {
	in.mu.Lock()
	in.cond.Broadcast()
	in.mu.Unlock()
}

// Close ends the goroutine and waits for it; readers get io.EOF.
func (in *input) Close() error {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return nil
	}
	in.closed = true
	in.cond.Broadcast()
	in.mu.Unlock()
	unix.Close(in.stop[1])
	<-in.done
	unix.Close(in.stop[0])
	return nil
}

// lineReader is readline's view of the input: it never ends by itself
// (closing it is a no-op; Close the input).
type lineReader struct{ in *input }

func (r lineReader) Read(p []byte) (int, error) {
	return r.in.read(p, func() bool { return false })
}

func (r lineReader) Close() error { return nil }
