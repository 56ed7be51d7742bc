package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
)

// ErrClosed is returned by calls on a Client whose connection has ended.
var ErrClosed = errors.New("connection to the guest agent closed")

// Client is the host end of the protocol: it opens requests, demultiplexes
// the guest's frames to them, and hands events to a callback. It is safe for
// concurrent use; any number of calls may be in flight.
type Client struct {
	w       *Writer
	rc      io.ReadCloser
	onEvent func(Event)

	mu    sync.Mutex
	next  uint32
	calls map[uint32]*call
	err   error // why the connection ended, once it has

	done chan struct{} // closed when the reader goroutine has returned
}

type call struct {
	mu             sync.Mutex // held while writing output, so a finished call gets no more
	finished       bool
	stdout, stderr io.Writer
	result         chan Result // buffered, 1
}

// NewClient starts a Client on the connection rw (the host end of the
// virtio-serial port). onEvent, if not nil, is called from the Client's
// reader goroutine for each Event frame, in order; it must not block for
// long or call back into the Client synchronously. The reader goroutine
// runs until the connection ends or Close is called; Close waits for it.
func NewClient(rw io.ReadWriteCloser, onEvent func(Event)) *Client {
	c := &Client{
		w:       NewWriter(rw),
		rc:      rw,
		onEvent: onEvent,
		calls:   make(map[uint32]*call),
		done:    make(chan struct{}),
	}
	go c.read()
	return c
}

// Done is closed when the connection has ended; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns why the connection ended, or nil while it is up.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the connection and waits for the reader goroutine. Calls in
// flight fail with ErrClosed.
func (c *Client) Close() error {
	err := c.rc.Close()
	<-c.done
	return err
}

func (c *Client) read() {
	defer close(c.done)
	var err error
	for {
		var f Frame
		f, err = ReadFrame(c.rc)
		if err != nil {
			break
		}
		if f.Type == TypeEvent {
			var ev Event
			if jerr := json.Unmarshal(f.Payload, &ev); jerr != nil {
				err = fmt.Errorf("wire: malformed event from the guest: %w", jerr)
				break
			}
			if c.onEvent != nil {
				c.onEvent(ev)
			}
			continue
		}
		c.mu.Lock()
		cl := c.calls[f.ID]
		if f.Type == TypeResult {
			delete(c.calls, f.ID)
		}
		c.mu.Unlock()
		if cl == nil {
			continue // a call the host gave up on
		}
		switch f.Type {
		case TypeStdout, TypeStderr:
			w := cl.stdout
			if f.Type == TypeStderr {
				w = cl.stderr
			}
			cl.mu.Lock()
			if !cl.finished && w != nil {
				w.Write(f.Payload) // a failing sink loses output, not the connection
			}
			cl.mu.Unlock()
		case TypeResult:
			var r Result
			if jerr := json.Unmarshal(f.Payload, &r); jerr != nil {
				r = Result{Error: fmt.Sprintf("malformed result from the guest: %v", jerr)}
			}
			cl.result <- r
		default:
			err = fmt.Errorf("wire: unexpected %s frame from the guest", f.Type)
		}
		if err != nil {
			break
		}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
		err = ErrClosed
	} else {
		err = fmt.Errorf("%w: %w", ErrClosed, err)
	}
	c.mu.Lock()
	c.err = err
	c.calls = nil
	c.mu.Unlock()
}

// Call runs one request and blocks until its Result arrives, the connection
// ends, or ctx is done. Output frames are written to stdout and stderr (nil
// discards) from the Client's reader goroutine; nothing is written to them
// after Call returns. If stdin is not nil, req.Stdin is set and stdin is
// copied to the guest by a goroutine that ends at stdin's EOF (or the next
// Read after the call ended: a Read blocked forever, as on a terminal,
// keeps it alive until it returns).
//
// When ctx is done, Call sends a Cancel frame (the agent kills what the
// request started) and returns ctx's error at once without waiting for the
// guest. A Result with Error set is returned as is, with a nil error: the
// caller decides what an operation's failure means.
func (c *Client) Call(ctx context.Context, req Request, stdin io.Reader, stdout, stderr io.Writer) (Result, error) {
	if stdin != nil {
		req.Stdin = true
	}
	cl := &call{stdout: stdout, stderr: stderr, result: make(chan Result, 1)}
	c.mu.Lock()
	if c.calls == nil {
		err := c.err
		c.mu.Unlock()
		return Result{}, err
	}
	c.next++
	id := c.next
	c.calls[id] = cl
	c.mu.Unlock()

	finish := func() {
		cl.mu.Lock()
		cl.finished = true
		cl.mu.Unlock()
	}
	if err := c.w.JSON(id, TypeRequest, req); err != nil {
		c.forget(id)
		return Result{}, fmt.Errorf("%w: sending %s: %w", ErrClosed, req.Op, err)
	}
	if stdin != nil {
		go c.pump(id, stdin)
	}
	if rs, ok := stdin.(Resizer); ok {
		defer c.forwardResizes(id, rs.Resizes())()
	}
	select {
	case r := <-cl.result:
		finish()
		return r, nil
	case <-c.done:
		finish()
		select {
		case r := <-cl.result:
			return r, nil
		default:
		}
		return Result{}, c.Err()
	case <-ctx.Done():
		finish()
		c.forget(id)
		c.w.Frame(id, TypeCancel, nil) // best effort: the guest may be gone
		return Result{}, ctx.Err()
	}
}

func (c *Client) forget(id uint32) {
	c.mu.Lock()
	delete(c.calls, id)
	c.mu.Unlock()
}

func (c *Client) live(id uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.calls[id]
	return ok
}

// pump copies stdin to the guest as Stdin frames, then sends end of input.
func (c *Client) pump(id uint32, stdin io.Reader) {
	buf := make([]byte, chunk)
	for {
		n, err := stdin.Read(buf)
		if !c.live(id) {
			return
		}
		if n > 0 {
			if c.w.Frame(id, TypeStdin, buf[:n]) != nil {
				return
			}
		}
		if err != nil {
			c.w.Frame(id, TypeStdin, nil)
			return
		}
	}
}
