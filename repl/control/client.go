package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/vmtest/vmtest/repl"
	"github.com/vmtest/vmtest/runtime"
	"github.com/vmtest/vmtest/vm/wire"
)

// Client is a connection to the control socket of a running network. As
// a repl.Backend it evaluates there. It makes one request at a time.
type Client struct {
	// Info describes the network, as the server said in its hello.
	Info Info

	conn *net.UnixConn
	w    *wire.Writer
	mu   sync.Mutex // one request at a time
	next uint32
}

var _ repl.Backend = (*Client)(nil)

// Dial connects to the network whose run directory is dir (printed by
// vmtest start). With attach it claims the prompt, which one client at a
// time may hold. The errors say what dir is when it is not a running
// network: missing, another user's, not a run directory of vmtest start,
// or one whose process is gone.
func Dial(dir string, attach bool) (*Client, error) {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("no run directory %s (vmtest start prints it; the network may have been stopped)", dir)
	case err != nil:
		return nil, err
	case !st.IsDir():
		return nil, fmt.Errorf("%s is not a run directory but a file", dir)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Getuid() {
		return nil, fmt.Errorf("%s belongs to another user (uid %d)", dir, sys.Uid)
	}
	sock := filepath.Join(dir, SocketName)
	if _, err := os.Stat(sock); err != nil {
		return nil, fmt.Errorf("%s is not the run directory of a vmtest start: it has no %s", dir, SocketName)
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, deadRunDir(dir)
		}
		return nil, err
	}
	c := &Client{conn: conn, w: wire.NewWriter(conn)}
	res, err := c.roundTrip(Request{Op: opHello, Version: Version, Attach: attach})
	switch {
	case err != nil:
		conn.Close()
		return nil, fmt.Errorf("%s does not answer as a vmtest control socket: %w", sock, err)
	case res.Error != "":
		conn.Close()
		return nil, errors.New(res.Error)
	case res.Info == nil:
		conn.Close()
		return nil, fmt.Errorf("%s does not answer as a vmtest control socket", sock)
	}
	c.Info = *res.Info
	return c, nil
}

// deadRunDir explains a control socket nobody listens on.
func deadRunDir(dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, "pid"))
	pid, perr := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || perr != nil || pid <= 0 {
		return fmt.Errorf("nothing answers on %s: the vmtest that made it is gone", filepath.Join(dir, SocketName))
	}
	if syscall.Kill(pid, 0) == syscall.ESRCH {
		return fmt.Errorf("the vmtest start of %s (pid %d) is no longer running, and its machines with it; remove the directory", dir, pid)
	}
	return fmt.Errorf("nothing answers on %s, though its vmtest (pid %d) runs", filepath.Join(dir, SocketName), pid)
}

// Close ends the connection (an attached client detaches). The next
// attach is let in at once, even before the server has read the end of
// this connection.
func (c *Client) Close() error { return c.conn.Close() }

// errGone is the error of a request whose connection ended.
func errGone(err error) error {
	return fmt.Errorf("lost the connection to the network (stopped?): %w", err)
}

// roundTrip sends a request and returns its result, ignoring any other
// frame.
func (c *Client) roundTrip(req Request) (Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	id := c.next
	if err := c.w.JSON(id, typeRequest, req); err != nil {
		return Result{}, errGone(err)
	}
	for {
		f, err := wire.ReadFrame(c.conn)
		if err != nil {
			return Result{}, errGone(err)
		}
		if f.ID == id && f.Type == typeResult {
			var res Result
			if err := json.Unmarshal(f.Payload, &res); err != nil {
				return Result{}, err
			}
			return res, nil
		}
	}
}

// Complete implements repl.Backend.
func (c *Client) Complete(line string, pos int) ([]string, int) {
	res, err := c.roundTrip(Request{Op: opComplete, Line: line, Pos: pos})
	if err != nil || res.Error != "" {
		return nil, 0
	}
	return res.Rest, res.Length
}

// Stop stops the network and returns when its machines have stopped.
func (c *Client) Stop() error {
	res, err := c.roundTrip(Request{Op: opStop})
	if err != nil {
		return err
	}
	if res.Error != "" {
		return errors.New(res.Error)
	}
	return nil
}

// Eval implements repl.Backend: the chunk runs in the network's process,
// its output comes to term, and a raw session there (m.shell()) puts
// term in raw mode here.
func (c *Client) Eval(ctx context.Context, src string, term repl.Terminal) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	id := c.next
	if err := c.w.JSON(id, typeRequest, Request{Op: opEval, Src: src}); err != nil {
		return false, errGone(err)
	}
	stopCancel := context.AfterFunc(ctx, func() { c.w.Frame(id, typeCancel, nil) })
	defer stopCancel()
	var raw *rawSession
	defer func() { raw.end() }()
	for {
		f, err := wire.ReadFrame(c.conn)
		if err != nil {
			return false, errGone(err)
		}
		if f.ID != id {
			continue
		}
		switch f.Type {
		case typeOutput:
			term.Write(f.Payload)
		case typeMode:
			var m Mode
			if json.Unmarshal(f.Payload, &m) != nil {
				continue
			}
			raw.end()
			raw = nil
			if m.Raw {
				raw = c.startRaw(id, term)
			}
		case typeResult:
			var res Result
			if err := json.Unmarshal(f.Payload, &res); err != nil {
				return false, err
			}
			if res.Error != "" {
				return false, errors.New(res.Error)
			}
			return res.OK, nil
		}
	}
}

// rawSession forwards a raw terminal to the server: keystrokes as input
// frames, sizes as size frames.
type rawSession struct {
	tty     runtime.TTY
	restore func()
	ended   chan struct{}
	wg      sync.WaitGroup
}

// startRaw puts term in raw mode and starts forwarding it; a terminal
// that cannot go raw is refused with end of input.
func (c *Client) startRaw(id uint32, term repl.Terminal) *rawSession {
	tty, restore, err := term.Raw()
	if err != nil {
		c.w.Frame(id, typeInput, nil)
		return nil
	}
	r := &rawSession{tty: tty, restore: restore, ended: make(chan struct{})}
	c.w.JSON(id, typeSize, Size{WinSize: tty.Size(), Term: tty.Term()})
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			if n > 0 {
				c.w.Data(id, typeInput, buf[:n])
			}
			if err != nil {
				select {
				case <-r.ended: // restored by us, not left by the user
				default:
					c.w.Frame(id, typeInput, nil)
				}
				return
			}
		}
	}()
	go func() {
		defer r.wg.Done()
		for {
			select {
			case ws := <-tty.Resizes():
				c.w.JSON(id, typeSize, Size{WinSize: ws})
			case <-r.ended:
				return
			}
		}
	}()
	return r
}

// end puts the terminal back and waits for the forwarding to stop. A nil
// session is a no-op.
func (r *rawSession) end() {
	if r == nil {
		return
	}
	close(r.ended)
	r.restore()
	r.wg.Wait()
}

var _ io.Closer = (*Client)(nil)
