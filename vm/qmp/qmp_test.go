package qmp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const qemuBinary = "qemu-system-x86_64"

// qemuProc is a QEMU process started by a test. Cleanup kills it and waits
// for it, so no QEMU survives the test.
type qemuProc struct {
	cmd     *exec.Cmd
	stderr  bytes.Buffer  // written by exec's copier; read after exited
	exited  chan struct{} // closed once Wait has returned
	waitErr error         // valid after exited
}

func baseArgs() []string {
	args := []string{"-M", "q35,accel=tcg", "-nodefaults", "-no-user-config", "-display", "none", "-S", "-m", "32"}
	if _, err := os.Stat("/usr/share/qemu/qboot.rom"); err == nil {
		args = append(args, "-bios", "/usr/share/qemu/qboot.rom")
	}
	return args
}

func startProc(t *testing.T, args []string) *qemuProc {
	t.Helper()
	if _, err := exec.LookPath(qemuBinary); err != nil {
		t.Skipf("%s not installed: %v", qemuBinary, err)
	}
	p := &qemuProc{exited: make(chan struct{})}
	p.cmd = exec.Command(qemuBinary, args...)
	p.cmd.Stderr = &p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start qemu: %v", err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// wait waits for QEMU to exit by itself and returns its exit code.
func (p *qemuProc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("qemu still running %v after quit", timeout)
		return -1
	}
}

// startQEMU starts QEMU connecting its QMP chardev to a listener made by the
// test, the way vmtest does, and returns a negotiated client.
func startQEMU(t *testing.T, extra ...string) (*Client, *qemuProc) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "qmp.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	args := append(baseArgs(), "-chardev", "socket,id=qmp,path="+sock, "-mon", "chardev=qmp,mode=control")
	p := startProc(t, append(args, extra...))

	ln.SetDeadline(time.Now().Add(20 * time.Second))
	conn, err := ln.Accept()
	if err != nil {
		p.cmd.Process.Kill()
		<-p.exited
		t.Fatalf("accept qmp connection: %v; qemu: %v: %s", err, p.waitErr, p.stderr.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := New(ctx, conn)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, p
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestStatusAndErrors(t *testing.T) {
	c, _ := startQEMU(t)
	ctx := testContext(t)

	if v := c.Version(); v.Major < 2 {
		t.Errorf("Version() = %v, want a QEMU version from the greeting", v)
	} else {
		t.Logf("QEMU %v", v)
	}

	st, err := c.Status(ctx)
	if err != nil || st != "prelaunch" {
		t.Fatalf("Status() = %q, %v; want \"prelaunch\" under -S", st, err)
	}

	_, err = c.Execute(ctx, "no-such-command", nil)
	var qe *Error
	if !errors.As(err, &qe) || qe.Class != "CommandNotFound" || qe.Command != "no-such-command" {
		t.Fatalf("unknown command: got error %v (%T), want *Error with class CommandNotFound", err, err)
	}
	t.Logf("unknown command: %v", err)

	// Arguments are marshalled and the return value is passed through.
	ret, err := c.Execute(ctx, "human-monitor-command", map[string]string{"command-line": "info version"})
	if err != nil {
		t.Fatalf("human-monitor-command: %v", err)
	}
	var out string
	if err := json.Unmarshal(ret, &out); err != nil || !strings.Contains(out, ".") {
		t.Fatalf("info version: got %s, want a version string", ret)
	}

	// Bad arguments are a QMP error, not a broken connection.
	_, err = c.Execute(ctx, "query-status", map[string]int{"bogus": 1})
	if !errors.As(err, &qe) || qe.Class != "GenericError" {
		t.Fatalf("bad arguments: got %v, want GenericError", err)
	}
	// No display device under -nodefaults: screendump is refused.
	if err := c.Screendump(ctx, filepath.Join(t.TempDir(), "x.ppm")); !errors.As(err, &qe) {
		t.Fatalf("screendump without a display: got %v, want a QMP error", err)
	}
	if st, err := c.Status(ctx); err != nil || st != "prelaunch" {
		t.Fatalf("after errors: Status() = %q, %v", st, err)
	}
}

func nextEvent(t *testing.T, c *Client, name string) Event {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("events closed while waiting for %s", name)
			}
			if ev.Name == name {
				return ev
			}
			t.Logf("skipping event %s", ev.Name)
		case <-timeout:
			t.Fatalf("no %s event", name)
		}
	}
}

func TestEventsStopCont(t *testing.T) {
	c, _ := startQEMU(t)
	ctx := testContext(t)

	if err := c.Cont(ctx); err != nil {
		t.Fatalf("Cont: %v", err)
	}
	ev := nextEvent(t, c, "RESUME")
	if ev.Time.IsZero() || time.Since(ev.Time) > time.Minute {
		t.Errorf("RESUME time = %v, want about now", ev.Time)
	}
	if st, err := c.Status(ctx); err != nil || st != "running" {
		t.Fatalf("after cont: Status() = %q, %v; want running", st, err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	nextEvent(t, c, "STOP")
	if st, err := c.Status(ctx); err != nil || st != "paused" {
		t.Fatalf("after stop: Status() = %q, %v; want paused", st, err)
	}
	if err := c.SystemReset(ctx); err != nil {
		t.Fatalf("SystemReset: %v", err)
	}
	ev = nextEvent(t, c, "RESET")
	var data struct {
		Guest bool `json:"guest"`
	}
	if err := json.Unmarshal(ev.Data, &data); err != nil || data.Guest {
		t.Errorf("RESET data = %s, want guest=false (host-requested)", ev.Data)
	}
	if n := c.Dropped(); n != 0 {
		t.Errorf("Dropped() = %d, want 0", n)
	}
}

func TestConcurrentExecute(t *testing.T) {
	c, _ := startQEMU(t)
	ctx := testContext(t)

	// Three commands whose replies have different shapes, so a reply routed
	// to the wrong caller is caught.
	checks := []struct {
		cmd string
		key string
	}{
		{"query-status", "status"},
		{"query-version", "qemu"},
		{"query-kvm", "enabled"},
	}
	const goroutines, calls = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*calls)
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				ch := checks[(g+i)%len(checks)]
				ret, err := c.Execute(ctx, ch.cmd, nil)
				if err != nil {
					errs <- err
					return
				}
				var m map[string]json.RawMessage
				if err := json.Unmarshal(ret, &m); err != nil || m[ch.key] == nil {
					errs <- errors.New(ch.cmd + ": got " + string(ret) + ", want a member " + ch.key)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func signal(t *testing.T, p *qemuProc, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

func TestCancelledContext(t *testing.T) {
	c, p := startQEMU(t)
	ctx := testContext(t)

	dead, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Execute(dead, "query-status", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("already cancelled: got %v, want context.Canceled", err)
	}

	// A stopped QEMU does not answer: the call must return when its
	// context expires, and the late reply must be discarded.
	signal(t, p, syscall.SIGSTOP)
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Execute(short, "query-status", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unanswered call: got %v, want context.DeadlineExceeded", err)
	}
	t.Logf("cancelled after %v: %v", time.Since(start).Round(time.Millisecond), err)
	signal(t, p, syscall.SIGCONT)

	ret, err := c.Execute(ctx, "query-version", nil)
	if err != nil {
		t.Fatalf("after cancel: %v", err)
	}
	if !bytes.Contains(ret, []byte(`"qemu"`)) {
		t.Fatalf("after cancel: query-version got %s: a stale reply was delivered", ret)
	}
	c.mu.Lock()
	n := len(c.pending)
	c.mu.Unlock()
	if n != 0 {
		t.Errorf("%d requests still pending, want 0", n)
	}
}

func TestQuit(t *testing.T) {
	c, p := startQEMU(t)
	ctx := testContext(t)

	// Callers hammering the connection while it goes away must each get a
	// reply or ErrClosed, never hang.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for {
				if _, err := c.Execute(ctx, "query-status", nil); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	if err := c.Quit(ctx); err != nil {
		t.Fatalf("Quit: %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("call during quit: got %v, want ErrClosed", err)
		}
	}

	var names []string
	for ev := range c.Events() { // must be closed, or this blocks
		names = append(names, ev.Name)
	}
	if !strings.Contains(strings.Join(names, " "), "SHUTDOWN") {
		t.Errorf("events before close: %v, want SHUTDOWN", names)
	}
	if _, err := c.Execute(ctx, "query-status", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("after quit: got %v, want ErrClosed", err)
	}
	if code := p.wait(t, 20*time.Second); code != 0 {
		t.Errorf("qemu exit code %d after quit, want 0; stderr: %s", code, p.stderr.String())
	}
}

// waitPending waits until n requests are registered and unanswered.
func waitPending(t *testing.T, c *Client, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c.mu.Lock()
		got := len(c.pending)
		c.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests pending, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPendingFailWhenQEMUDies(t *testing.T) {
	c, p := startQEMU(t)
	ctx := testContext(t)

	signal(t, p, syscall.SIGSTOP)
	result := make(chan error, 1)
	go func() {
		_, err := c.Execute(ctx, "query-status", nil)
		result <- err
	}()
	waitPending(t, c, 1)
	signal(t, p, syscall.SIGKILL)

	select {
	case err := <-result:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("pending call: got %v, want ErrClosed", err)
		}
		t.Logf("pending call: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("pending call did not fail after qemu was killed")
	}
	select {
	case <-c.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("Done not closed")
	}
	for range c.Events() {
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after hang-up: %v", err)
	}
	c.Close() // idempotent
}

func TestCloseFailsPending(t *testing.T) {
	c, p := startQEMU(t)
	ctx := testContext(t)

	signal(t, p, syscall.SIGSTOP)
	result := make(chan error, 1)
	go func() {
		_, err := c.Execute(ctx, "query-status", nil)
		result <- err
	}()
	waitPending(t, c, 1)
	c.Close()
	if err := <-result; !errors.Is(err, ErrClosed) {
		t.Fatalf("pending call after Close: got %v, want ErrClosed", err)
	}
	if _, ok := <-c.Events(); ok {
		t.Fatal("Events not closed after Close")
	}
}

func TestScreendump(t *testing.T) {
	c, _ := startQEMU(t, "-device", "VGA")
	ctx := testContext(t)
	dir := t.TempDir()
	for name, magic := range map[string]string{"screen.png": "\x89PNG", "screen.ppm": "P6"} {
		file := filepath.Join(dir, name)
		if err := c.Screendump(ctx, file); err != nil {
			t.Fatalf("Screendump(%s): %v", name, err)
		}
		b, err := os.ReadFile(file)
		if err != nil || !bytes.HasPrefix(b, []byte(magic)) {
			t.Fatalf("%s: got %d bytes starting %q (err %v), want %q", name, len(b), b[:min(len(b), 4)], err, magic)
		}
	}
}

func TestDial(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "qmp.sock")
	startProc(t, append(baseArgs(), "-qmp", "unix:"+sock+",server=on,wait=off"))
	ctx := testContext(t)
	var c *Client
	var err error
	for c == nil { // QEMU creates the socket shortly after starting
		if c, err = Dial(ctx, sock); err != nil {
			if ctx.Err() != nil {
				t.Fatalf("Dial: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	defer c.Close()
	if st, err := c.Status(ctx); err != nil || st != "prelaunch" {
		t.Fatalf("Status() = %q, %v", st, err)
	}
}

func TestDeliverDropsOldest(t *testing.T) {
	c := &Client{events: make(chan Event, 2)}
	for _, n := range []string{"A", "B", "C"} {
		c.deliver(Event{Name: n})
	}
	if got := c.Dropped(); got != 1 {
		t.Fatalf("Dropped() = %d, want 1", got)
	}
	if a, b := <-c.events, <-c.events; a.Name != "B" || b.Name != "C" {
		t.Fatalf("queued %s %s, want B C (oldest dropped)", a.Name, b.Name)
	}
}
