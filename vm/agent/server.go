//go:build linux

// Package agent is the guest side of vmtest: the program that runs as PID 1
// inside every machine. Main does the early boot (mounts, modules, the
// virtio-serial port), says hello to the host, and serves the wire protocol
// (package wire) until the machine powers off.
//
// Server holds the protocol logic apart from PID 1 duties so that it can be
// exercised on the host over any byte stream.
package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/vmtest/vmtest/vm/wire"
)

// Server serves requests read from one stream. Each request runs in its own
// goroutine; Serve waits for all of them before it returns.
type Server struct {
	w       *wire.Writer
	r       io.Reader
	reaper  *Reaper
	handler map[string]handlerFunc

	// Configure sets up the machine's root (OpConfigure). Tests leave it nil,
	// which makes configure fail.
	Configure func(ctx context.Context, req wire.Request) error
	// Jobs supervises the machine's jobs (jobs.go).
	Jobs *Supervisor
	// Power is called after the Result of a poweroff or reboot request has
	// been sent; it does not return in a real guest.
	Power func(reboot bool)

	// leftovers read what background processes of commands that returned
	// write, to the console.
	leftovers leftovers

	mu     sync.Mutex
	active map[uint32]*request
}

// request is one request in flight.
type request struct {
	id     uint32
	cancel context.CancelFunc
	stdin  *queue
	resize chan wire.WinSize // the latest size asked for, for an exec on a terminal
}

type handlerFunc func(ctx context.Context, r *request, req wire.Request) wire.Result

// NewServer returns a Server reading frames from r and writing frames to w.
// reaper owns the children the server starts; its Run must be running.
func NewServer(r io.Reader, w io.Writer, reaper *Reaper) *Server {
	s := &Server{w: wire.NewWriter(w), r: r, reaper: reaper, active: make(map[uint32]*request)}
	s.handler = map[string]handlerFunc{
		wire.OpConfigure: s.configure,
		wire.OpExec:      s.exec,
		wire.OpReadFile:  s.readFile,
		wire.OpWriteFile: s.writeFile,
		wire.OpWaitPort:  s.waitPort,
		wire.OpWaitFile:  s.waitFile,
		wire.OpSetTime:   s.setTime,
		wire.OpPoweroff:  s.power,
		wire.OpReboot:    s.power,
		wire.OpPing:      func(context.Context, *request, wire.Request) wire.Result { return wire.Result{} },
	}
	s.Jobs = NewSupervisor(reaper, func(ev wire.Event) { s.Event(ev) })
	s.leftovers = leftovers{console: s.Jobs.console, consoleMu: &s.Jobs.consoleMu}
	s.addJobHandlers()
	return s
}

// Event sends an event frame to the host.
func (s *Server) Event(ev wire.Event) error { return s.w.JSON(0, wire.TypeEvent, ev) }

// Serve reads frames until the stream ends or ctx is done, running each
// request in its own goroutine, and returns when all of them have finished
// (they are cancelled when the stream ends). It returns nil on a clean end
// of stream. Then it also stops reading the output of background
// processes (see leftovers).
func (s *Server) Serve(ctx context.Context) error {
	defer s.leftovers.close() // after the requests, which may add to it
	var wg sync.WaitGroup
	defer wg.Wait() // deferred before cancel, so it runs after it
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for {
		f, err := wire.ReadFrame(s.r)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch f.Type {
		case wire.TypeRequest:
			var req wire.Request
			if err := json.Unmarshal(f.Payload, &req); err != nil {
				s.w.JSON(f.ID, wire.TypeResult, wire.Result{Error: fmt.Sprintf("malformed request: %v", err)})
				continue
			}
			h := s.handler[req.Op]
			if h == nil {
				s.w.JSON(f.ID, wire.TypeResult, wire.Result{Error: fmt.Sprintf("unknown operation %q", req.Op)})
				continue
			}
			rctx, rcancel := context.WithCancel(ctx)
			r := &request{id: f.ID, cancel: rcancel, stdin: newQueue(), resize: make(chan wire.WinSize, 1)}
			if !req.Stdin {
				r.stdin.close()
			}
			s.mu.Lock()
			s.active[f.ID] = r
			s.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := h(rctx, r, req)
				s.mu.Lock()
				delete(s.active, r.id)
				s.mu.Unlock()
				rcancel()
				r.stdin.close()
				s.w.JSON(r.id, wire.TypeResult, res)
				if (req.Op == wire.OpPoweroff || req.Op == wire.OpReboot) && res.Error == "" && s.Power != nil {
					s.Power(req.Op == wire.OpReboot)
				}
			}()
		case wire.TypeStdin, wire.TypeCancel, wire.TypeResize:
			s.mu.Lock()
			r := s.active[f.ID]
			s.mu.Unlock()
			if r == nil {
				continue // the request already ended
			}
			if f.Type == wire.TypeCancel {
				r.cancel()
			} else if f.Type == wire.TypeResize {
				r.resizeTo(f.Payload)
			} else if len(f.Payload) == 0 {
				r.stdin.close()
			} else {
				r.stdin.push(f.Payload)
			}
		default:
			return fmt.Errorf("unexpected %s frame from the host", f.Type)
		}
	}
}

func (s *Server) configure(ctx context.Context, _ *request, req wire.Request) wire.Result {
	if s.Configure == nil {
		return wire.Result{Error: "configure is not available here"}
	}
	if err := s.Configure(ctx, req); err != nil {
		return wire.Result{Error: err.Error()}
	}
	return wire.Result{}
}

func (s *Server) power(context.Context, *request, wire.Request) wire.Result {
	if s.Power == nil {
		return wire.Result{Error: "power control is not available here"}
	}
	return wire.Result{}
}

// queue is an unbounded FIFO of stdin chunks, read as an io.Reader. The
// server's frame loop pushes without ever blocking, so a program that does
// not read its input cannot stall other requests.
type queue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	chunks [][]byte
	closed bool
}

func newQueue() *queue {
	q := &queue{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *queue) push(b []byte) {
	q.mu.Lock()
	if !q.closed {
		q.chunks = append(q.chunks, b)
	}
	q.mu.Unlock()
	q.cond.Signal()
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}

// Read blocks until data or end of input.
func (q *queue) Read(p []byte) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.chunks) == 0 && !q.closed {
		q.cond.Wait()
	}
	if len(q.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, q.chunks[0])
	if n == len(q.chunks[0]) {
		q.chunks = q.chunks[1:]
	} else {
		q.chunks[0] = q.chunks[0][n:]
	}
	return n, nil
}
