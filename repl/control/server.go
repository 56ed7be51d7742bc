package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/repl"
	"github.com/vmtest/vmtest/vm/wire"
)

// errInterrupted is the cause of an evaluation a client cancelled.
var errInterrupted = errors.New("interrupted (Ctrl-C)")

// errServerClosed is the cause of evaluations cut short by Close or Stop.
var errServerClosed = errors.New("the network is stopping")

// maxDepartWait bounds how long an attach waits for the server to finish
// with the connection of a client that left while holding the claim:
// its statement is cancelled, which blocking builtins heed at once.
const maxDepartWait = 10 * time.Second

// Server serves a repl.Backend on a control socket. Its methods are safe
// for concurrent use; Close must be called.
type Server struct {
	ln     *net.UnixListener
	b      repl.Backend
	info   Info
	onStop func() error

	ctx    context.Context // cancelled by Close and Stop: ends evaluations
	cancel context.CancelCauseFunc

	mu         sync.Mutex
	conns      map[*conn]bool
	attached   *conn
	closed     bool
	departWait time.Duration // maxDepartWait; tests shorten it
	// testHookDepart, if set, runs (with mu held) when a claim starts
	// waiting for a departing holder.
	testHookDepart func()

	stopOnce sync.Once
	stopErr  error
	stopped  chan struct{} // closed when a stop request has been answered
	answered sync.Once

	wg sync.WaitGroup // accept loop and connections
}

// Listen serves b on a new unix socket at path. info is what clients are
// told in their hello (Version and PID are filled in). onStop stops the
// network; it is called once, by the first stop request or Stop.
func Listen(path string, b repl.Backend, info Info, onStop func() error) (*Server, error) {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	info.Version, info.PID = Version, os.Getpid()
	ctx, cancel := context.WithCancelCause(context.Background())
	s := &Server{ln: ln, b: b, info: info, onStop: onStop, ctx: ctx, cancel: cancel, conns: map[*conn]bool{}, stopped: make(chan struct{}), departWait: maxDepartWait}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Stopped is closed once a client's stop request has been served: the
// network is stopped and the process should Close the server and exit.
func (s *Server) Stopped() <-chan struct{} { return s.stopped }

// Stop cancels the evaluations running and stops the network (onStop),
// once; later calls return the first result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.cancel(errServerClosed)
		s.stopErr = s.onStop()
	})
	return s.stopErr
}

// Close stops accepting clients, ends every connection (cancelling its
// evaluation) and waits for them. The socket file is removed.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.cancel(errServerClosed)
	err := s.ln.Close()
	for _, c := range conns {
		c.c.Close()
	}
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			return
		}
		uid, pid, err := peer(c)
		if err != nil || uid != os.Getuid() {
			c.Close() // the directory is private; someone else got in anyway
			continue
		}
		cn := &conn{s: s, c: c, w: wire.NewWriter(c), pid: pid, done: make(chan struct{})}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			continue
		}
		s.conns[cn] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			cn.serve()
			s.mu.Lock()
			delete(s.conns, cn)
			if s.attached == cn {
				s.attached = nil
			}
			s.mu.Unlock()
			close(cn.done)
		}()
	}
}

// peer returns the uid and pid of the process at the other end of c.
func peer(c *net.UnixConn) (uid, pid int, err error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil {
		return 0, 0, err
	}
	if cerr != nil {
		return 0, 0, cerr
	}
	return int(cred.Uid), int(cred.Pid), nil
}

// claim makes c the attached client, unless another is.
//
// A holder whose client has closed its end (it detached, exited or was
// killed) is no longer attached, even if this server has not yet read
// the end of its stream: that happens on the holder's own goroutine,
// which may not have run yet when the next client's hello arrives
// (typically: attach, detach and attach again at once, on a loaded
// machine). The kernel marks the holder's socket hung up as soon as the
// client closes it, so claim asks the socket rather than the goroutine,
// then waits, at most s.departWait, for the server to finish with that
// connection (its statement cancelled and over) before taking the
// claim. A holder whose client is still there is refused at once.
func (s *Server) claim(c *conn) error {
	for {
		s.mu.Lock()
		holder := s.attached
		if holder == nil || holder == c {
			s.attached = c
			s.mu.Unlock()
			return nil
		}
		if !holder.departed() {
			s.mu.Unlock()
			return fmt.Errorf("%s already has a client attached (pid %d); one at a time", s.info.Dir, holder.pid)
		}
		wait := s.departWait
		if s.testHookDepart != nil {
			s.testHookDepart()
		}
		s.mu.Unlock()
		timer := time.NewTimer(wait)
		select {
		case <-holder.done:
			timer.Stop()
			// Another departed client's successor may have been quicker:
			// look again.
		case <-s.ctx.Done():
			timer.Stop()
			return errServerClosed
		case <-timer.C:
			return fmt.Errorf("%s: the client that was attached (pid %d) has left, but its statement has not yet ended after %v; try again", s.info.Dir, holder.pid, wait)
		}
	}
}

// conn is one client connection.
type conn struct {
	s   *Server
	c   *net.UnixConn
	w   *wire.Writer
	pid int

	mu       sync.Mutex
	greeted  bool
	attached bool
	eval     *evaluation // the one running, if any
	evals    sync.WaitGroup

	leaving atomic.Bool   // serve has returned: the connection is ending
	done    chan struct{} // closed once the server is done with the connection
}

// departed reports whether c's client has gone, or its connection is
// ending anyway, though the server may not be done with it yet: its
// serve loop has returned, or the socket is hung up (the client closed
// its end), which the kernel records when the client closes it, before
// this server reads the end of the stream.
func (c *conn) departed() bool {
	if c.leaving.Load() {
		return true
	}
	rc, err := c.c.SyscallConn()
	if err != nil {
		return true
	}
	hup := false
	cerr := rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		for {
			n, err := unix.Poll(fds, 0)
			if err == unix.EINTR {
				continue
			}
			hup = err == nil && n > 0 && fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0
			return
		}
	})
	return hup || cerr != nil // an error: the socket is closed
}

// evaluation is an eval request in progress.
type evaluation struct {
	id     uint32
	cancel context.CancelCauseFunc
	term   *remoteTerm
}

// serve reads the client's frames until the connection ends, then
// cancels its evaluation and waits for it.
func (c *conn) serve() {
	defer func() {
		c.leaving.Store(true)
		c.mu.Lock()
		ev := c.eval
		c.mu.Unlock()
		if ev != nil {
			ev.cancel(errors.New("the client went away"))
			ev.term.hangUp()
		}
		c.evals.Wait()
		c.c.Close()
	}()
	for {
		f, err := wire.ReadFrame(c.c)
		if err != nil {
			return
		}
		switch f.Type {
		case typeRequest:
			var req Request
			if err := json.Unmarshal(f.Payload, &req); err != nil {
				return // not a client of this protocol
			}
			if !c.request(f.ID, req) {
				return
			}
		case typeCancel, typeInput, typeSize:
			c.mu.Lock()
			ev := c.eval
			c.mu.Unlock()
			if ev == nil || ev.id != f.ID {
				continue // it ended meanwhile
			}
			switch f.Type {
			case typeCancel:
				ev.cancel(errInterrupted)
			case typeInput:
				ev.term.input(f.Payload)
			case typeSize:
				ev.term.size(f.Payload)
			}
		default:
			return
		}
	}
}

func (c *conn) reply(id uint32, res Result) {
	c.w.JSON(id, typeResult, res)
}

// request handles one request; false ends the connection.
func (c *conn) request(id uint32, req Request) bool {
	c.mu.Lock()
	greeted, attached := c.greeted, c.attached
	c.mu.Unlock()
	if req.Op != opHello && !greeted {
		c.reply(id, Result{Error: "say hello first"})
		return false
	}
	switch req.Op {
	case opHello:
		if req.Version != Version {
			c.reply(id, Result{Error: fmt.Sprintf("this network's vmtest speaks control protocol %s, the client %q: use the same vmtest for both", Version, req.Version)})
			return false
		}
		if req.Attach {
			if err := c.s.claim(c); err != nil {
				c.reply(id, Result{Error: err.Error()})
				return false
			}
		}
		c.mu.Lock()
		c.greeted, c.attached = true, req.Attach
		c.mu.Unlock()
		info := c.s.info
		c.reply(id, Result{Info: &info})
	case opEval:
		if !attached {
			c.reply(id, Result{Error: "eval needs an attached client"})
			return true
		}
		c.startEval(id, req.Src)
	case opComplete:
		if !attached {
			c.reply(id, Result{Error: "complete needs an attached client"})
			return true
		}
		rest, n := c.s.b.Complete(req.Line, req.Pos)
		c.reply(id, Result{Rest: rest, Length: n})
	case opStop:
		c.s.mu.Lock()
		closed := c.s.closed
		c.s.mu.Unlock()
		res := Result{}
		if closed {
			res.Error = "the network is already stopping"
		} else if err := c.s.Stop(); err != nil {
			res.Error = err.Error()
		}
		c.reply(id, res)
		c.s.answered.Do(func() { close(c.s.stopped) })
	default:
		c.reply(id, Result{Error: fmt.Sprintf("unknown operation %q", req.Op)})
	}
	return true
}

// startEval evaluates src on a goroutine, one evaluation at a time.
func (c *conn) startEval(id uint32, src string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.eval != nil {
		c.reply(id, Result{Error: "an evaluation is already running"})
		return
	}
	ctx, cancel := context.WithCancelCause(c.s.ctx)
	ev := &evaluation{id: id, cancel: cancel, term: &remoteTerm{c: c, id: id}}
	c.eval = ev
	c.evals.Add(1)
	go func() {
		defer c.evals.Done()
		ok, err := c.s.b.Eval(ctx, src, ev.term)
		cancel(nil)
		c.mu.Lock()
		c.eval = nil
		c.mu.Unlock()
		res := Result{OK: ok}
		if err != nil {
			res.Error = err.Error()
		}
		c.reply(id, res)
	}()
}
