// Package qmp is a client for the QEMU Machine Protocol.
//
// vmtest is normally the listener: it creates a unix socket in the run's
// private directory and starts QEMU with
//
//	-chardev socket,id=qmp,path=P -mon chardev=qmp,mode=control
//
// so that QEMU connects to it. The accepted net.Conn is handed to New.
// Dial covers the other direction (QEMU started with
// -qmp unix:P,server=on,wait=off).
//
// A Client multiplexes: Execute may be called from any number of goroutines
// at once. One reader goroutine matches replies to requests by id and
// delivers asynchronous events on the Events channel; one writer goroutine
// serialises requests onto the connection. Both belong to the Client and
// have ended when Close returns.
package qmp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is wrapped by the error of every Execute that could not get its
// reply because the connection ended: QEMU exited or hung up, a read or
// write failed, or Close was called. The wrapping error says which.
var ErrClosed = errors.New("connection closed")

// EventBuffer is the capacity of the channel returned by Client.Events.
const EventBuffer = 256

var (
	_ io.Closer = (*Client)(nil)
	_ error     = (*Error)(nil)
)

// Error is a QMP error reply: QEMU understood the request and refused it.
// Use errors.As to get at Class (for example "CommandNotFound",
// "GenericError", "DeviceNotFound").
type Error struct {
	Command string // the command that was executed
	Class   string // QMP error class
	Desc    string // QEMU's human-readable description
}

func (e *Error) Error() string {
	return fmt.Sprintf("qmp %s: %s: %s", e.Command, e.Class, e.Desc)
}

// Event is an asynchronous QMP event such as SHUTDOWN, STOP or RESUME.
type Event struct {
	Name string          // e.g. "SHUTDOWN"
	Data json.RawMessage // the event's "data" member; nil if it had none
	Time time.Time       // QEMU's timestamp for the event
}

// Version is the QEMU version announced in the QMP greeting.
type Version struct {
	Major, Minor, Micro int
	Package             string // distribution build string, may be empty
}

func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Micro)
	if v.Package != "" {
		s += " (" + strings.TrimSpace(v.Package) + ")"
	}
	return s
}

// Client is a QMP connection after capability negotiation. Its methods are
// safe for concurrent use.
type Client struct {
	conn    net.Conn
	dec     *json.Decoder // used by New, then only by the reader goroutine
	version Version

	writes  chan writeRequest // Execute → writer goroutine, unbuffered
	events  chan Event        // reader goroutine → user; closed by the reader
	dropped atomic.Uint64

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan reply // nil once the connection has ended
	err     error                 // why the connection ended; set once

	done chan struct{} // closed when the connection has ended
	wg   sync.WaitGroup
}

type writeRequest struct {
	ctx context.Context
	buf []byte
}

type reply struct {
	ret json.RawMessage
	err error
}

// message is any server → client QMP message.
type message struct {
	Greeting  *greeting       `json:"QMP"`
	Event     string          `json:"event"`
	Data      json.RawMessage `json:"data"`
	Timestamp *struct {
		Seconds      int64 `json:"seconds"`
		Microseconds int64 `json:"microseconds"`
	} `json:"timestamp"`
	ID     json.RawMessage `json:"id"`
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
}

type greeting struct {
	Version struct {
		QEMU struct {
			Major int `json:"major"`
			Minor int `json:"minor"`
			Micro int `json:"micro"`
		} `json:"qemu"`
		Package string `json:"package"`
	} `json:"version"`
	Capabilities []string `json:"capabilities"`
}

type execMessage struct {
	Execute   string          `json:"execute"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	ID        uint64          `json:"id"`
}

// Dial connects to a QMP server socket at path (QEMU started with
// -qmp unix:path,server=on) and negotiates as New does. It makes one
// attempt: if QEMU has not created the socket yet, the error says so and the
// caller may retry. ctx bounds the connect and the negotiation only.
func Dial(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("qmp dial: %w", err)
	}
	return New(ctx, conn)
}

// New reads QEMU's greeting from conn, leaves capability negotiation mode
// with qmp_capabilities and starts the client's reader and writer
// goroutines. It blocks until QEMU has answered or ctx ends (cancelling ctx
// aborts the handshake; it has no effect on the returned Client).
//
// New takes ownership of conn: it is closed by Close, or before New returns
// an error.
func New(ctx context.Context, conn net.Conn) (*Client, error) {
	c := &Client{
		conn:    conn,
		dec:     json.NewDecoder(conn),
		writes:  make(chan writeRequest),
		events:  make(chan Event, EventBuffer),
		pending: make(map[uint64]chan reply),
		done:    make(chan struct{}),
		nextID:  1,
	}
	if err := c.handshake(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	c.wg.Add(2)
	go c.reader()
	go c.writer()
	return c, nil
}

// handshake runs synchronously before any goroutine exists. Cancellation of
// ctx is turned into an expired deadline on conn so that blocked reads and
// writes return.
func (c *Client) handshake(ctx context.Context) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("qmp handshake: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		c.conn.SetDeadline(dl)
	}
	expired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.conn.SetDeadline(time.Unix(1, 0))
		close(expired)
	})
	defer func() {
		if !stop() {
			// The AfterFunc has started: wait for it so that the deadline
			// reset below cannot be undone behind our back.
			<-expired
		}
		c.conn.SetDeadline(time.Time{})
		if err != nil && ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", err, ctx.Err())
		}
	}()

	var m message
	if err := c.dec.Decode(&m); err != nil {
		return fmt.Errorf("qmp handshake: read greeting: %w", err)
	}
	if m.Greeting == nil {
		return fmt.Errorf("qmp handshake: want a greeting {\"QMP\": ...}, got a message without it (event %q)", m.Event)
	}
	v := m.Greeting.Version
	c.version = Version{Major: v.QEMU.Major, Minor: v.QEMU.Minor, Micro: v.QEMU.Micro, Package: v.Package}

	buf, _ := json.Marshal(execMessage{Execute: "qmp_capabilities", ID: 0})
	if _, err := c.conn.Write(buf); err != nil {
		return fmt.Errorf("qmp handshake: send qmp_capabilities: %w", err)
	}
	// No events are sent in negotiation mode, so the next message is the
	// reply.
	m = message{}
	if err := c.dec.Decode(&m); err != nil {
		return fmt.Errorf("qmp handshake: read qmp_capabilities reply: %w", err)
	}
	switch {
	case m.Error != nil:
		return &Error{Command: "qmp_capabilities", Class: m.Error.Class, Desc: m.Error.Desc}
	case m.Return == nil:
		return fmt.Errorf("qmp handshake: want a return for qmp_capabilities, got event %q", m.Event)
	}
	return nil
}

// Version is the QEMU version from the greeting.
func (c *Client) Version() Version { return c.version }

// Events returns the channel on which QMP events are delivered, in the
// order QEMU sent them. Every call returns the same channel. It is closed
// after the connection ends, once the events received before that have been
// queued.
//
// The channel holds EventBuffer events. The reader never waits for the
// consumer, so a slow or absent consumer cannot delay command replies: when
// the buffer is full the oldest unread event is discarded to make room and
// Dropped is incremented. Recent events (SHUTDOWN, STOP, ...) are therefore
// always kept.
func (c *Client) Events() <-chan Event { return c.events }

// Dropped reports how many events were discarded because the Events buffer
// was full.
func (c *Client) Dropped() uint64 { return c.dropped.Load() }

// Done is closed when the connection has ended, whether QEMU hung up (it
// exited, or executed quit) or Close was called.
func (c *Client) Done() <-chan struct{} { return c.done }

// Close ends the connection without asking QEMU to do anything (use Quit
// for that) and waits for the client's goroutines to finish. Pending and
// later Execute calls fail with an error wrapping ErrClosed. Close may be
// called from any goroutine, more than once; it always returns nil.
func (c *Client) Close() error {
	c.shutdown(errors.New("closed by the client"))
	c.wg.Wait()
	return nil
}

// Execute sends command with args (marshalled to JSON as the "arguments"
// member; nil for none) and waits for QEMU's reply, returning its "return"
// member. A QMP error reply is returned as *Error.
//
// Execute may be called concurrently from many goroutines; QEMU itself
// executes commands one at a time in the order they arrive. ctx bounds the
// whole call: when it ends Execute returns ctx's error at once, and the
// reply, if QEMU sends one, is discarded (the command may still have taken
// effect). If the connection ends first, the error wraps ErrClosed.
func (c *Client) Execute(ctx context.Context, command string, args any) (json.RawMessage, error) {
	var rawArgs json.RawMessage
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			return nil, fmt.Errorf("qmp %s: marshal arguments: %w", command, err)
		}
		if !bytes.Equal(b, []byte("null")) {
			rawArgs = b
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("qmp %s: %w", command, err)
	}
	id, ch, err := c.register()
	if err != nil {
		return nil, fmt.Errorf("qmp %s: %w", command, err)
	}
	buf, err := json.Marshal(execMessage{Execute: command, Arguments: rawArgs, ID: id})
	if err != nil { // cannot happen: every field is already JSON
		c.forget(id)
		return nil, fmt.Errorf("qmp %s: marshal request: %w", command, err)
	}

	select {
	case c.writes <- writeRequest{ctx: ctx, buf: buf}:
	case r := <-ch: // the connection ended before the request was written
		return nil, fmt.Errorf("qmp %s: %w", command, r.err)
	case <-ctx.Done():
		c.forget(id)
		return nil, fmt.Errorf("qmp %s: %w", command, ctx.Err())
	}

	select {
	case r := <-ch:
		if r.err != nil {
			var qe *Error
			if errors.As(r.err, &qe) {
				qe.Command = command
				return nil, qe
			}
			return nil, fmt.Errorf("qmp %s: %w", command, r.err)
		}
		return r.ret, nil
	case <-ctx.Done():
		c.forget(id)
		return nil, fmt.Errorf("qmp %s: no reply: %w", command, ctx.Err())
	}
}

// register allocates an id and the channel its reply (or the connection's
// end) will be delivered on. Each channel receives exactly one value.
func (c *Client) register() (uint64, chan reply, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		return 0, nil, c.err
	}
	id := c.nextID
	c.nextID++
	ch := make(chan reply, 1)
	c.pending[id] = ch
	return id, ch, nil
}

// forget drops a request whose caller gave up; its reply will be discarded.
func (c *Client) forget(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// shutdown records why the connection ended (the first cause wins), closes
// it and fails every pending request. Safe to call from any goroutine.
func (c *Client) shutdown(cause error) {
	c.mu.Lock()
	if c.pending == nil {
		c.mu.Unlock()
		return
	}
	c.err = fmt.Errorf("%w: %w", ErrClosed, cause)
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()

	c.conn.Close()
	close(c.done)
	for _, ch := range pending {
		ch <- reply{err: c.err}
	}
}

// writer owns writes to conn so that a caller never blocks on the socket
// beyond its own ctx.
func (c *Client) writer() {
	defer c.wg.Done()
	for {
		select {
		case w := <-c.writes:
			if w.ctx.Err() != nil {
				continue // the caller has gone; its id is forgotten
			}
			if _, err := c.conn.Write(w.buf); err != nil {
				c.shutdown(fmt.Errorf("write: %w", err))
				return
			}
		case <-c.done:
			return
		}
	}
}

// reader owns reads from conn: it routes replies by id and queues events.
func (c *Client) reader() {
	defer c.wg.Done()
	defer close(c.events)
	for {
		var m message
		if err := c.dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("qemu hung up")
			} else {
				err = fmt.Errorf("read: %w", err)
			}
			c.shutdown(err)
			return
		}
		switch {
		case m.Event != "":
			ev := Event{Name: m.Event, Data: m.Data}
			if m.Timestamp != nil {
				ev.Time = time.Unix(m.Timestamp.Seconds, m.Timestamp.Microseconds*1000)
			}
			c.deliver(ev)
		case m.Return != nil || m.Error != nil:
			var id uint64
			if json.Unmarshal(m.ID, &id) != nil {
				continue // not one of ours: we always send a numeric id
			}
			c.mu.Lock()
			ch, ok := c.pending[id]
			delete(c.pending, id)
			c.mu.Unlock()
			if !ok {
				continue // the caller gave up
			}
			if m.Error != nil {
				ch <- reply{err: &Error{Class: m.Error.Class, Desc: m.Error.Desc}}
			} else {
				ch <- reply{ret: m.Return}
			}
		}
	}
}

// deliver queues ev without blocking, discarding the oldest queued event if
// the buffer is full. Only the reader goroutine sends on c.events, so after
// one receive there is room.
func (c *Client) deliver(ev Event) {
	select {
	case c.events <- ev:
		return
	default:
	}
	select {
	case <-c.events:
		c.dropped.Add(1)
	default: // the consumer made room meanwhile
	}
	c.events <- ev
}
