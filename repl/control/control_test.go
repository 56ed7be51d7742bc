package control

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmtest/vmtest/repl"
	"github.com/vmtest/vmtest/runtime"
	"github.com/vmtest/vmtest/vm/wire"
)

// backend evaluates a few fixed chunks.
type backend struct{}

func (backend) Eval(ctx context.Context, src string, term repl.Terminal) (bool, error) {
	switch strings.TrimSpace(src) {
	case "hello":
		io.WriteString(term, "hi\n")
		return true, nil
	case "block":
		<-ctx.Done()
		fmt.Fprintln(term, context.Cause(ctx))
		return false, nil
	case "raw":
		tty, restore, err := term.Raw()
		if err != nil {
			fmt.Fprintln(term, err)
			return false, nil
		}
		data, _ := io.ReadAll(tty)
		ws := tty.Size()
		fmt.Fprintf(tty, "%s %dx%d %s", bytes.ToUpper(data), ws.Rows, ws.Cols, tty.Term())
		restore()
		return true, nil
	}
	return false, nil
}

func (backend) Complete(line string, pos int) ([]string, int) {
	return []string{"rest-of-" + line[:pos]}, pos
}

// serve runs a Server in a new run directory and returns the directory
// and the number of times onStop ran.
func serve(t *testing.T) (*Server, string, *int) {
	t.Helper()
	return serveBackend(t, backend{})
}

// serveBackend is serve with another backend.
func serveBackend(t *testing.T, b repl.Backend) (*Server, string, *int) {
	t.Helper()
	dir := t.TempDir()
	stops := new(int)
	s, err := Listen(filepath.Join(dir, SocketName), b, Info{Test: "t", Dir: dir, Machines: []string{"m"}}, func() error { *stops++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir, stops
}

// term is a client terminal that records output; its raw mode types
// input and then leaves.
type term struct {
	mu    sync.Mutex
	out   bytes.Buffer
	input string
	raws  int
}

func (t *term) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.out.Write(p)
}

func (t *term) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.out.String()
}

func (t *term) Raw() (runtime.TTY, func(), error) {
	t.mu.Lock()
	t.raws++
	t.mu.Unlock()
	r, w := io.Pipe()
	go func() { io.WriteString(w, t.input); w.Close() }()
	return &tty{r: r, w: t}, func() { r.Close() }, nil
}

type tty struct {
	r *io.PipeReader
	w io.Writer
}

func (t *tty) Read(p []byte) (int, error)   { return t.r.Read(p) }
func (t *tty) Write(p []byte) (int, error)  { return t.w.Write(p) }
func (t *tty) Size() wire.WinSize           { return wire.WinSize{Rows: 30, Cols: 100} }
func (t *tty) Resizes() <-chan wire.WinSize { return nil }
func (t *tty) Term() string                 { return "xterm" }

func eval(t *testing.T, c *Client, ctx context.Context, src string, tm *term) bool {
	t.Helper()
	ok, err := c.Eval(ctx, src, tm)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestEvalCompleteAndRaw(t *testing.T) {
	_, dir, _ := serve(t)
	c, err := Dial(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Info.Test != "t" || c.Info.PID != os.Getpid() || c.Info.Version != Version {
		t.Errorf("hello: %+v", c.Info)
	}
	var tm term
	if ok := eval(t, c, t.Context(), "hello\n", &tm); !ok || tm.String() != "hi\n" {
		t.Errorf("eval: %v %q", ok, tm.String())
	}
	if rest, n := c.Complete("abc", 2); len(rest) != 1 || rest[0] != "rest-of-ab" || n != 2 {
		t.Errorf("complete: %q %d", rest, n)
	}
	tm = term{input: "typed"}
	if ok := eval(t, c, t.Context(), "raw\n", &tm); !ok || tm.String() != "TYPED 30x100 xterm" || tm.raws != 1 {
		t.Errorf("raw session: %v %q after %d raw modes", ok, tm.String(), tm.raws)
	}
}

func TestCancel(t *testing.T) {
	_, dir, _ := serve(t)
	c, err := Dial(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	var tm term
	if ok := eval(t, c, ctx, "block\n", &tm); ok || tm.String() != "interrupted (Ctrl-C)\n" {
		t.Errorf("got %v %q", ok, tm.String())
	}
	tm = term{}
	if ok := eval(t, c, t.Context(), "hello\n", &tm); !ok {
		t.Error("the connection did not survive the cancel")
	}
}

func TestOneAttachedClient(t *testing.T) {
	_, dir, _ := serve(t)
	first, err := Dial(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Dial(dir, true); err == nil || !strings.Contains(err.Error(), "already has a client attached (pid "+strconv.Itoa(os.Getpid())+")") {
		t.Errorf("a second attach: %v", err)
	}
	other, err := Dial(dir, false)
	if err != nil {
		t.Fatalf("a client that does not attach: %v", err)
	}
	if _, err := other.Eval(t.Context(), "hello\n", &term{}); err == nil {
		t.Error("eval without attaching worked")
	}
	other.Close()
	first.Close()
	// At once: the server need not have noticed yet that first left.
	c, err := Dial(dir, true)
	if err != nil {
		t.Fatalf("no attach after the first client left: %v", err)
	}
	c.Close()
}

// TestReattachAtOnce detaches and attaches again in a tight loop: the
// server must count a client that closed its connection as detached
// even before its goroutine has read the end of the stream. (Before,
// about half of these attaches were refused with "already has a client
// attached".)
func TestReattachAtOnce(t *testing.T) {
	_, dir, _ := serve(t)
	for i := range 500 {
		c, err := Dial(dir, true)
		if err != nil {
			t.Fatalf("attach %d, right after a detach: %v", i, err)
		}
		if i%2 == 1 {
			// Leave in the middle of a statement, too.
			if ok := eval(t, c, t.Context(), "hello\n", &term{}); !ok {
				t.Fatalf("eval %d failed", i)
			}
		}
		c.Close()
	}
}

// slowCancel is a backend whose chunk "stuck" runs until cancelled and
// then takes until release is closed to end.
type slowCancel struct {
	backend
	started, cancelled, release, ended chan struct{}
	once                               sync.Once
}

// free lets the chunk end.
func (b *slowCancel) free() { b.once.Do(func() { close(b.release) }) }

func (b *slowCancel) Eval(ctx context.Context, src string, term repl.Terminal) (bool, error) {
	if strings.TrimSpace(src) != "stuck" {
		return b.backend.Eval(ctx, src, term)
	}
	close(b.started)
	<-ctx.Done()
	close(b.cancelled)
	<-b.release
	close(b.ended)
	return false, nil
}

// leaveStuck attaches a client, starts the "stuck" chunk, closes the
// client and returns once the server is cancelling the chunk: the
// departed client's connection is then still the server's, holding the
// claim, until b.release is closed.
func leaveStuck(t *testing.T, dir string, b *slowCancel) {
	t.Helper()
	first, err := Dial(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	go first.Eval(context.Background(), "stuck\n", &term{})
	<-b.started
	first.Close()
	<-b.cancelled
}

// serveSlowCancel serves a slowCancel backend.
func serveSlowCancel(t *testing.T) (*Server, string, *slowCancel) {
	b := &slowCancel{started: make(chan struct{}), cancelled: make(chan struct{}), release: make(chan struct{}), ended: make(chan struct{})}
	s, dir, _ := serveBackend(t, b)
	t.Cleanup(b.free) // before the server's Close, which waits for the chunk
	return s, dir, b
}

// TestReattachWhileCancelling: a client that left while its statement
// runs still holds the claim until the statement has been cancelled and
// ended; an attach meanwhile waits for that and then gets the prompt,
// deterministically (the statement ends only once the attach waits).
func TestReattachWhileCancelling(t *testing.T) {
	s, dir, b := serveSlowCancel(t)
	leaveStuck(t, dir, b)
	s.mu.Lock()
	s.testHookDepart = b.free
	s.mu.Unlock()
	c, err := Dial(dir, true)
	if err != nil {
		t.Fatalf("attach while the departed client's statement is cancelled: %v", err)
	}
	defer c.Close()
	select {
	case <-b.ended:
	default:
		t.Error("the attach got the prompt before the departed client's statement ended")
	}
	var tm term
	if ok := eval(t, c, t.Context(), "hello\n", &tm); !ok || tm.String() != "hi\n" {
		t.Errorf("eval after the reattach: %v %q", ok, tm.String())
	}
	// A client that is still attached is refused at once, as ever.
	if _, err := Dial(dir, true); err == nil || !strings.Contains(err.Error(), "already has a client attached") {
		t.Errorf("an attach beside a live client: %v", err)
	}
}

// TestReattachWaitIsBounded: a departed client's statement that does
// not end keeps the claim; an attach gives up after a while and says
// why.
func TestReattachWaitIsBounded(t *testing.T) {
	s, dir, b := serveSlowCancel(t)
	s.mu.Lock()
	s.departWait = 50 * time.Millisecond
	s.mu.Unlock()
	leaveStuck(t, dir, b)
	if _, err := Dial(dir, true); err == nil || !strings.Contains(err.Error(), "has left, but its statement has not yet ended") {
		t.Errorf("attach while the departed client's statement will not end: %v", err)
	}
}

func TestStop(t *testing.T) {
	s, dir, stops := serve(t)
	attached, err := Dial(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer attached.Close()
	done := make(chan bool, 1)
	go func() { done <- eval(t, attached, context.Background(), "block\n", &term{}) }()
	c, err := Dial(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Stopped():
	case <-time.After(10 * time.Second):
		t.Fatal("Stopped is not closed after a stop")
	}
	if *stops != 1 {
		t.Errorf("onStop ran %d times", *stops)
	}
	if ok := <-done; ok {
		t.Error("the evaluation running was not cancelled by the stop")
	}
}

func TestDialErrors(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o644)
	plain := filepath.Join(base, "plain")
	os.Mkdir(plain, 0o700)

	// A run directory whose vmtest is gone: its socket is left, its pid
	// is dead.
	dead := filepath.Join(base, "dead")
	os.Mkdir(dead, 0o700)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dead, SocketName), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	cmd := exec.Command("true")
	cmd.Run()
	os.WriteFile(filepath.Join(dead, "pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600)

	// A socket that is not a control socket: it hangs up.
	foreign := filepath.Join(base, "foreign")
	os.Mkdir(foreign, 0o700)
	fl, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(foreign, SocketName), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	go func() {
		for {
			c, err := fl.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	for _, tc := range []struct{ dir, want string }{
		{filepath.Join(base, "missing"), "no run directory"},
		{file, "is not a run directory but a file"},
		{plain, "is not the run directory of a vmtest start: it has no control.sock"},
		{dead, "is no longer running, and its machines with it"},
		{foreign, "does not answer as a vmtest control socket"},
	} {
		_, err := Dial(tc.dir, true)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", filepath.Base(tc.dir), err, tc.want)
		}
	}
}
