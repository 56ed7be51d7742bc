//go:build linux

package agent

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Reaper starts child processes and collects every child that exits,
// including orphans re-parented to PID 1. It is the only caller of wait4 in
// the process: os/exec's Wait would race it, so programs are started with
// Reaper.Start and never waited for any other way.
type Reaper struct {
	mu      sync.Mutex // held across fork and registration, and while delivering
	waiting map[int]chan syscall.WaitStatus
	sig     chan os.Signal
}

// NewReaper returns a Reaper listening for SIGCHLD. Run must be called for
// it to collect anything.
func NewReaper() *Reaper {
	r := &Reaper{waiting: make(map[int]chan syscall.WaitStatus), sig: make(chan os.Signal, 1)}
	signal.Notify(r.sig, syscall.SIGCHLD)
	return r
}

// Run collects exited children until ctx is done.
func (r *Reaper) Run(ctx context.Context) {
	defer signal.Stop(r.sig)
	for {
		r.reap()
		select {
		case <-ctx.Done():
			return
		case <-r.sig:
		}
	}
}

func (r *Reaper) reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		r.mu.Lock()
		ch := r.waiting[pid]
		delete(r.waiting, pid)
		r.mu.Unlock()
		if ch != nil {
			ch <- ws
		}
	}
}

// Start starts a process and returns its pid and a channel that receives
// its wait status once, when it exits.
func (r *Reaper) Start(path string, argv []string, attr *os.ProcAttr) (int, <-chan syscall.WaitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, err := os.StartProcess(path, argv, attr)
	if err != nil {
		return 0, nil, err
	}
	ch := make(chan syscall.WaitStatus, 1)
	r.waiting[p.Pid] = ch
	pid := p.Pid
	p.Release()
	// A child that exited before it was registered is collected by the
	// next pass: kick one.
	select {
	case r.sig <- syscall.SIGCHLD:
	default:
	}
	return pid, ch, nil
}
