//go:build linux

package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/vm/wire"
)

// hangupGrace is how long a program on a terminal that was hung up (end
// of input, or a cancelled request) has to exit after SIGHUP before its
// process group is killed.
const hangupGrace = time.Second

// execTTY runs a program on a new pseudo-terminal of size req.TTY, as the
// leader of a new session whose controlling terminal it is: an
// interactive shell (wire.Request.TTY). The terminal's output is streamed
// as stdout frames; stdin frames are typed into it; resize frames resize
// it. End of input, or cancelling the request, hangs the terminal up
// (SIGHUP); whatever still runs hangupGrace later is killed.
func (s *Server) execTTY(ctx context.Context, r *request, req wire.Request) wire.Result {
	c, err := resolveCommand(req)
	if err != nil {
		return wire.Result{Error: err.Error()}
	}
	master, slave, err := openPTY()
	if err != nil {
		return wire.Result{Error: fmt.Sprintf("exec on a terminal: %v", err)}
	}
	setWinsize(master, *req.TTY)
	attr := &os.ProcAttr{
		Dir:   c.dir,
		Env:   c.env,
		Files: []*os.File{slave, slave, slave},
		Sys:   &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0, Credential: c.cred},
	}
	pid, exited, err := s.reaper.Start(c.path, c.argv, attr)
	slave.Close()
	if err != nil {
		master.Close()
		return wire.Result{Error: fmt.Sprintf("exec %s: %v", c.argv[0], unwrapPathError(err))}
	}
	t := &terminal{master: master}
	return statusResult(s.runOnTerminal(ctx, r, t, pid, exited))
}

// terminal is the master end of a program's pseudo-terminal.
type terminal struct {
	master *os.File
	hangup sync.Once
}

// hangUp closes the master: the kernel sends SIGHUP to the session.
func (t *terminal) hangUp() { t.hangup.Do(func() { t.master.Close() }) }

// runOnTerminal streams the terminal's output and types the host's input
// into it, on goroutines it waits for, until the program pid exits: the
// terminal is hung up at the end of input or when ctx is done, and the
// program's group killed hangupGrace later.
func (s *Server) runOnTerminal(ctx context.Context, r *request, t *terminal, pid int, exited <-chan syscall.WaitStatus) syscall.WaitStatus {
	var output, input sync.WaitGroup
	output.Add(1)
	go func() {
		defer output.Done()
		// Ends with EIO once no process has the terminal open, or when
		// the master is closed.
		io.Copy(wire.StreamWriter{W: s.w, ID: r.id, Type: wire.TypeStdout}, t.master)
	}()
	inputEnded := make(chan struct{})
	input.Add(1)
	go func() {
		defer input.Done()
		defer close(inputEnded)
		io.Copy(t.master, r.stdin)
	}()
	ws := s.superviseTerminal(ctx, r, t, pid, exited, inputEnded)

	// Background processes may keep the terminal open: read what the
	// program wrote, but not forever.
	drained := make(chan struct{})
	go func() { output.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(drainGrace):
		t.hangUp()
		<-drained
	}
	t.hangUp()
	r.stdin.close()
	input.Wait()
	return ws
}

// superviseTerminal waits for the program pid to exit, resizing its
// terminal as asked, hanging it up at the end of input or when ctx is
// done, and killing its group hangupGrace after a hang-up.
func (s *Server) superviseTerminal(ctx context.Context, r *request, t *terminal, pid int, exited <-chan syscall.WaitStatus, inputEnded <-chan struct{}) syscall.WaitStatus {
	var kill <-chan time.Time
	cancelled := ctx.Done()
	for {
		select {
		case ws := <-exited:
			return ws
		case size := <-r.resize:
			setWinsize(t.master, size)
		case <-inputEnded:
			inputEnded = nil
			t.hangUp()
			kill = time.After(hangupGrace)
		case <-cancelled:
			cancelled = nil
			t.hangUp()
			if kill == nil {
				kill = time.After(hangupGrace)
			}
		case <-kill:
			unix.Kill(-pid, unix.SIGKILL)
			kill = nil
		}
	}
}

// openPTY returns the master and slave ends of a new pseudo-terminal.
func openPTY() (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	var n int
	err = control(master, func(fd int) error {
		if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
			return fmt.Errorf("unlocking the terminal: %w", err)
		}
		var err error
		n, err = unix.IoctlGetInt(fd, unix.TIOCGPTN)
		return err
	})
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	return master, slave, nil
}

// setWinsize sets the terminal's size; its foreground processes get
// SIGWINCH.
func setWinsize(master *os.File, ws wire.WinSize) {
	control(master, func(fd int) error {
		return unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, &unix.Winsize{Row: ws.Rows, Col: ws.Cols})
	})
}

// control runs f on f's descriptor without taking it out of the
// runtime's poller (as File.Fd would), so that Close still interrupts a
// Read.
func control(file *os.File, f func(fd int) error) error {
	rc, err := file.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// loginShell returns the login shell of user (a name or uid; "" is root)
// from /etc/passwd, or /bin/sh.
func loginShell(user string) string {
	if user == "" {
		user = "root"
	}
	data, _ := os.ReadFile("/etc/passwd")
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 7 && (f[0] == user || f[2] == user) && f[6] != "" && executable(f[6]) == nil {
			return f[6]
		}
	}
	return "/bin/sh"
}

// resizeTo records the size asked for by a resize frame, replacing one
// not yet applied. A malformed frame is ignored.
func (r *request) resizeTo(payload []byte) {
	var ws wire.WinSize
	if json.Unmarshal(payload, &ws) != nil {
		return
	}
	for {
		select {
		case r.resize <- ws:
			return
		default:
		}
		select {
		case <-r.resize:
		default:
		}
	}
}
