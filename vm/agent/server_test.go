//go:build linux

package agent

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/vm/wire"
)

// serve runs a Server on one end of an in-memory connection and returns a
// client on the other. Everything is torn down when the test ends.
func serve(t *testing.T) *wire.Client {
	t.Helper()
	hostEnd, guestEnd := net.Pipe()
	// The reaper outlives the server: requests still running when the
	// stream ends are killed, and their exits must still be collected.
	reaperCtx, stopReaper := context.WithCancel(context.Background())
	reaper := NewReaper()
	reaperDone := make(chan struct{})
	go func() { reaper.Run(reaperCtx); close(reaperDone) }()
	s := NewServer(guestEnd, guestEnd, reaper)
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background()) }()
	c := wire.NewClient(hostEnd, nil)
	t.Cleanup(func() {
		c.Close()
		guestEnd.Close()
		<-served
		stopReaper()
		<-reaperDone
	})
	return c
}

func call(t *testing.T, c *wire.Client, req wire.Request, stdin []byte) (wire.Result, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	var in *bytes.Reader
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var res wire.Result
	var err error
	if stdin != nil {
		in = bytes.NewReader(stdin)
		res, err = c.Call(ctx, req, in, &out, &errb)
	} else {
		res, err = c.Call(ctx, req, nil, &out, &errb)
	}
	if err != nil {
		t.Fatalf("%s: %v", req.Op, err)
	}
	return res, out.String(), errb.String()
}

func TestExecSeparatesStreamsAndStatus(t *testing.T) {
	c := serve(t)
	res, out, errs := call(t, c, wire.Request{Op: wire.OpExec, Shell: "echo out; echo err >&2; exit 3"}, nil)
	if res.Error != "" || res.Exit != 3 || out != "out\n" || errs != "err\n" {
		t.Fatalf("got %+v stdout %q stderr %q; want exit 3, \"out\\n\", \"err\\n\"", res, out, errs)
	}
}

func TestExecArgvEnvDir(t *testing.T) {
	c := serve(t)
	dir := t.TempDir()
	res, out, _ := call(t, c, wire.Request{Op: wire.OpExec, Argv: []string{"sh", "-c", "echo $FOO; pwd"}, Env: []string{"FOO=bar baz"}, Dir: dir}, nil)
	if res.Exit != 0 || out != "bar baz\n"+dir+"\n" {
		t.Fatalf("got %+v %q", res, out)
	}
}

func TestExecStdin(t *testing.T) {
	c := serve(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 100000) // 1.6 MB: several frames
	res, out, _ := call(t, c, wire.Request{Op: wire.OpExec, Argv: []string{"wc", "-c"}}, big)
	if res.Exit != 0 || strings.TrimSpace(out) != "1600000" {
		t.Fatalf("got %+v %q, want 1600000", res, out)
	}
}

func TestExecNoStdinIsDevNull(t *testing.T) {
	c := serve(t)
	res, out, _ := call(t, c, wire.Request{Op: wire.OpExec, Argv: []string{"cat"}}, nil)
	if res.Exit != 0 || out != "" {
		t.Fatalf("cat without stdin: %+v %q", res, out)
	}
}

func TestExecNotFound(t *testing.T) {
	c := serve(t)
	res, _, _ := call(t, c, wire.Request{Op: wire.OpExec, Argv: []string{"no-such-command-xyz"}}, nil)
	if !strings.Contains(res.Error, "no-such-command-xyz: command not found") {
		t.Fatalf("got %+v, want a command-not-found error", res)
	}
}

func TestExecSignal(t *testing.T) {
	c := serve(t)
	res, _, _ := call(t, c, wire.Request{Op: wire.OpExec, Shell: "kill -TERM $$"}, nil)
	if res.Signal != "SIGTERM" || res.Exit != 128+15 {
		t.Fatalf("got %+v, want SIGTERM and exit 143", res)
	}
}

// unanswered runs req until the host's deadline d and checks that the
// agent did not answer before: TimeoutMS is a hint, never the agent's
// own deadline.
func unanswered(t *testing.T, c *wire.Client, req wire.Request, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if res, err := c.Call(ctx, req, nil, nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%s: got %+v, %v; want no answer before the host's deadline", req.Op, res, err)
	}
}

func TestExecCancelKillsGroup(t *testing.T) {
	c := serve(t)
	pids := filepath.Join(t.TempDir(), "pids")
	// The hint is shorter than the host's deadline: the agent waits for
	// the host.
	unanswered(t, c, wire.Request{Op: wire.OpExec, Shell: "sleep 30 & echo $! $$ > " + pids + "; sleep 30", TimeoutMS: 50}, time.Second)
	b, err := os.ReadFile(pids)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		for tries := 0; unix.Kill(pid, 0) == nil; tries++ {
			if tries > 500 {
				t.Fatalf("process %d of the cancelled command still runs", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func TestExecBackgroundDoesNotHold(t *testing.T) {
	c := serve(t)
	start := time.Now()
	res, out, _ := call(t, c, wire.Request{Op: wire.OpExec, Shell: "sleep 30 & echo started"}, nil)
	if res.Exit != 0 || out != "started\n" {
		t.Fatalf("got %+v %q", res, out)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a background child held the call for %s", d)
	}
}

func TestCancelKillsCommand(t *testing.T) {
	c := serve(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.Call(ctx, wire.Request{Op: wire.OpExec, Argv: []string{"sleep", "30"}}, nil, nil, nil)
	if err != context.DeadlineExceeded {
		t.Fatalf("got %v, want the context's error", err)
	}
	// The connection still serves other requests.
	res, out, _ := call(t, c, wire.Request{Op: wire.OpExec, Argv: []string{"echo", "ok"}}, nil)
	if res.Exit != 0 || out != "ok\n" {
		t.Fatalf("after a cancel: %+v %q", res, out)
	}
}

func TestConcurrentRequests(t *testing.T) {
	c := serve(t)
	start := time.Now()
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			_, err := c.Call(context.Background(), wire.Request{Op: wire.OpExec, Argv: []string{"sleep", "1"}}, nil, nil, nil)
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("four 1 s sleeps took %s: requests did not run concurrently", d)
	}
}

func TestFilesBothWays(t *testing.T) {
	c := serve(t)
	p := filepath.Join(t.TempDir(), "a", "b", "file")
	data := bytes.Repeat([]byte{0, 1, 2, 255}, 300000)
	res, _, _ := call(t, c, wire.Request{Op: wire.OpWriteFile, Path: p, Mode: 0o600}, data)
	if res.Error != "" {
		t.Fatal(res.Error)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("written file: %v %v", st, err)
	}
	res, out, _ := call(t, c, wire.Request{Op: wire.OpReadFile, Path: p}, nil)
	if res.Error != "" || !bytes.Equal([]byte(out), data) || res.Size != int64(len(data)) || res.Mode != 0o600 {
		t.Fatalf("read back %d bytes, %+v", len(out), res)
	}
	res, _, _ = call(t, c, wire.Request{Op: wire.OpReadFile, Path: p + ".missing"}, nil)
	if !strings.Contains(res.Error, "no such file") {
		t.Fatalf("missing file: %+v", res)
	}
	res, _, _ = call(t, c, wire.Request{Op: wire.OpWriteFile, Path: "relative"}, []byte("x"))
	if !strings.Contains(res.Error, "absolute") {
		t.Fatalf("relative path: %+v", res)
	}
}

func TestWaitFile(t *testing.T) {
	c := serve(t)
	p := filepath.Join(t.TempDir(), "flag")
	go func() {
		time.Sleep(200 * time.Millisecond)
		os.WriteFile(p, nil, 0o644)
	}()
	if res, _, _ := call(t, c, wire.Request{Op: wire.OpWaitFile, Path: p, TimeoutMS: 5000}, nil); res.Error != "" {
		t.Fatal(res.Error)
	}
	unanswered(t, c, wire.Request{Op: wire.OpWaitFile, Path: p + ".never", TimeoutMS: 50}, 500*time.Millisecond)
}

func TestWaitPort(t *testing.T) {
	c := serve(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if res, _, _ := call(t, c, wire.Request{Op: wire.OpWaitPort, Port: port, TimeoutMS: 5000}, nil); res.Error != "" {
		t.Fatal(res.Error)
	}
	unanswered(t, c, wire.Request{Op: wire.OpWaitPort, Port: port, Closed: true, TimeoutMS: 50}, 500*time.Millisecond)
	l.Close()
	if res, _, _ := call(t, c, wire.Request{Op: wire.OpWaitPort, Port: port, Closed: true, TimeoutMS: 5000}, nil); res.Error != "" {
		t.Fatal(res.Error)
	}
	res, _, _ := call(t, c, wire.Request{Op: wire.OpWaitPort, Port: 70000}, nil)
	if !strings.Contains(res.Error, "out of range") {
		t.Fatalf("got %+v", res)
	}
}

func TestEndOfStreamCancelsRequests(t *testing.T) {
	hostEnd, guestEnd := net.Pipe()
	reaperCtx, stopReaper := context.WithCancel(context.Background())
	defer stopReaper()
	reaper := NewReaper()
	go reaper.Run(reaperCtx)
	s := NewServer(guestEnd, guestEnd, reaper)
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background()) }()
	w := wire.NewWriter(hostEnd)
	if err := w.JSON(1, wire.TypeRequest, wire.Request{Op: wire.OpExec, Argv: []string{"sleep", "60"}}); err != nil {
		t.Fatal(err)
	}
	go func() { // drain, so the server's writes do not block
		for {
			if _, err := wire.ReadFrame(hostEnd); err != nil {
				return
			}
		}
	}()
	time.Sleep(200 * time.Millisecond)
	hostEnd.Close()
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the stream ended with a request running")
	}
}

func TestUnknownOp(t *testing.T) {
	c := serve(t)
	res, _, _ := call(t, c, wire.Request{Op: "frobnicate"}, nil)
	if res.Error != `unknown operation "frobnicate"` {
		t.Fatalf("got %+v", res)
	}
}

func TestExecAsUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("running as another user needs root")
	}
	c := serve(t)
	res, out, _ := call(t, c, wire.Request{Op: wire.OpExec, Argv: []string{"id", "-un"}, User: "nobody"}, nil)
	if res.Exit != 0 || out != "nobody\n" {
		t.Fatalf("got %+v %q", res, out)
	}
	res, _, _ = call(t, c, wire.Request{Op: wire.OpExec, Argv: []string{"true"}, User: "no-such-user"}, nil)
	if !strings.Contains(res.Error, `no user "no-such-user"`) {
		t.Fatalf("got %+v", res)
	}
}

func TestLiveUserProcess(t *testing.T) {
	for _, tc := range []struct {
		stat string
		want bool
	}{
		{"42 (sleep) S 1 42 42 0 -1 4194560 100 0 0 0", true},
		{"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0", false}, // PF_KTHREAD set
		{"43 (sh) Z 1 43 43 0 -1 4194564 0 0 0 0", false},
		{"44 (a) b) (c) R 1 44 44 0 -1 4194304 0 0", true}, // ')' in the name
	} {
		if got := liveUserProcess(tc.stat); got != tc.want {
			t.Errorf("liveUserProcess(%q) = %v, want %v", tc.stat, got, tc.want)
		}
	}
}
