package vm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"

	"github.com/vmtest/vmtest/vm/lines"
	"github.com/vmtest/vmtest/vm/qmp"
	"github.com/vmtest/vmtest/vm/wire"
)

// instance is one QEMU process and its connections.
type instance struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when QEMU has exited and been waited for
	err    error         // QEMU's exit error, valid after exited
	stderr *lines.Tail
	agent  *wire.Client
	qmp    *qmp.Client
	conns  []net.Conn
	wg     sync.WaitGroup // console copier
	// ram is the guest's memory, shared with QEMU, of a machine that is
	// to save the boot snapshot of its shape.
	ram    *os.File
	closed sync.Once
}

// kill stops QEMU at once (a power cut) and waits for it. Safe to call
// more than once, from any goroutine.
func (inst *instance) kill() {
	if inst.cmd.Process != nil && !isExited(inst.exited) {
		inst.cmd.Process.Kill()
	}
	<-inst.exited
}

// close releases the connections after QEMU has exited and waits for the
// goroutines reading them. Only the first call does anything.
func (inst *instance) close() {
	inst.closed.Do(func() {
		if inst.agent != nil {
			inst.agent.Close()
		}
		if inst.qmp != nil {
			inst.qmp.Close()
		}
		if inst.ram != nil {
			inst.ram.Close()
		}
		for _, c := range inst.conns {
			c.Close()
		}
		inst.wg.Wait()
	})
}

// accept waits for one connection on l, giving up when QEMU exits or ctx
// is done.
func accept(ctx context.Context, l *net.UnixListener, exited <-chan struct{}) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-exited:
	case <-ctx.Done():
	}
	l.Close() // unblocks Accept
	if r := <-ch; r.err == nil {
		r.c.Close()
	}
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	return nil, errors.New("qemu exited")
}

func isExited(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// stopReason says why an exited QEMU stopped: a guest kernel panic (found
// on the console), a power off or reset by the guest (QEMU exits 0 under
// -no-reboot), or QEMU's own failure.
func (m *Machine) stopReason(inst *instance) string {
	if p := m.con.Panic(); p != "" {
		return "the guest kernel panicked (" + p + ")"
	}
	if inst.err == nil {
		return "the guest powered off or reset"
	}
	return "qemu exited (" + inst.err.Error() + ")"
}

// BootError says why a machine did not come up, or stopped.
type BootError struct {
	Machine string
	Reason  string
	Stderr  string   // what QEMU printed
	Console []string // the last console lines
	err     error    // what Reason wraps, if anything
}

func (e *BootError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "machine %s: %s", e.Machine, e.Reason)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		fmt.Fprintf(&b, "\nqemu: %s", s)
	}
	if len(e.Console) > 0 {
		fmt.Fprintf(&b, "\nlast console lines:\n  %s", strings.Join(e.Console, "\n  "))
	}
	return b.String()
}

func (e *BootError) Unwrap() error { return e.err }

// bootError returns a *BootError of inst whose Reason is format with args
// (a %w among them is wrapped).
func (m *Machine) bootError(inst *instance, format string, args ...any) error {
	reason := fmt.Errorf(format, args...)
	return &BootError{Machine: m.cfg.Name, Reason: reason.Error(), Stderr: inst.stderr.String(), Console: m.con.Tail(20), err: errors.Unwrap(reason)}
}
