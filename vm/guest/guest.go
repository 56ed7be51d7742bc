// Package guest is the one way the host calls a running machine's
// operating system: run a command with its streams, status and deadline;
// read and write files; wait for a port or a file; power it off; and, on
// machines whose jobs vmtest supervises, drive those jobs.
//
// Every kind of machine implements Guest: today the host-root machine,
// whose guest agent answers over virtio-serial (vm.Machine, which folds the
// agent's answers into the errors below); next, machines driven over SSH
// or a serial console, and remote hosts. Callers above (runtime, builtins)
// see only this interface and these errors, never a wire message.
//
// # Errors
//
// A call fails with an *Error naming the operation. What went wrong is in
// its chain, for errors.Is:
//
//   - ErrTimeout: the call's deadline (its context's) passed. Every
//     deadline is the host's: an implementation may tell the guest how long
//     it has, as a hint, but never lets the guest's clock end a call, since
//     a guest's clock may run fast under software emulation.
//     errors.Is(err, context.DeadlineExceeded) holds too.
//   - context.Canceled: the call's context was cancelled.
//   - ErrNotRunning: the machine is not running, or stopped during the
//     call (the *Error's Err then says why, e.g. a kernel panic).
//   - ErrFailed: the guest could not do what was asked (a program that
//     could not start, a missing file); Error.Guest holds its message.
//
// A command that ran and exited with a non-zero status is not an error:
// Exec returns its Status.
package guest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/vmtest/vmtest/vm/wire"
)

// Guest is what the host can ask of a running machine's operating system.
// Its methods are safe for concurrent use; each blocks until the guest has
// answered, the machine stops, or ctx is done (then the guest is told to
// stop what the call started, and the call returns at once).
type Guest interface {
	// Exec runs c and returns how it ended. Its output is written to
	// c.Stdout and c.Stderr as it comes; nothing is written after Exec
	// returns.
	Exec(ctx context.Context, c Command) (Status, error)
	// ReadFile copies the guest file at path (absolute) to w and returns
	// its permission bits. A directory is an ErrFailed error.
	ReadFile(ctx context.Context, path string, w io.Writer) (fs.FileMode, error)
	// WriteFile replaces the guest file at path (absolute; parents are
	// created) with what r holds, up to its EOF, with permission bits mode.
	WriteFile(ctx context.Context, path string, mode fs.FileMode, r io.Reader) error
	// WaitPort returns once a TCP socket listens on port in the guest
	// (with closed, once none does). Only ctx bounds it.
	WaitPort(ctx context.Context, port int, closed bool) error
	// WaitFile returns once path exists in the guest. Only ctx bounds it.
	WaitFile(ctx context.Context, path string) error
	// PowerOff stops every process, syncs the disks and powers the
	// machine off (with reboot, resets it instead). It returns once the
	// guest has accepted; the machine's process ends soon after.
	PowerOff(ctx context.Context, reboot bool) error
}

// Jobs is what job() and the job methods need of a machine whose guest
// supervises the machine's declared jobs.
type Jobs interface {
	// StartJob starts the job unless it is starting or running; it
	// returns once the start is under way.
	StartJob(ctx context.Context, name string) error
	// StopJob stops the job and returns once none of its processes is
	// left.
	StopJob(ctx context.Context, name string) error
	// JobStatus returns what the guest knows of the job.
	JobStatus(ctx context.Context, name string) (JobStatus, error)
	// WaitJob returns once the job is ready (running, or done for a
	// one-shot job). It fails with ErrFailed at once when the job has
	// failed, exited, was stopped or skipped (the *Error's Job then holds
	// its status); only ctx bounds it otherwise.
	WaitJob(ctx context.Context, name string) (JobStatus, error)
}

// Command is a command to run in the guest: a shell string (run by
// /bin/sh -c) or an argument vector.
type Command struct {
	Shell string
	Argv  []string
	Env   []string // KEY=VALUE, added to the guest's default environment
	Dir   string   // the working directory; "" for the user's home
	User  string   // a name or numeric uid; "" for root
	// Stdin, if not nil, is the command's standard input, read to its EOF
	// (otherwise /dev/null). Stdout and Stderr receive its output (nil
	// discards).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// TTY, if not nil, runs the command on a new terminal of this size:
	// its output all comes to Stdout, and a Stdin that implements
	// wire.Resizer passes on the terminal's size changes. Without Shell
	// and Argv, the user's login shell runs.
	TTY *WinSize
}

// Status is how a command ended.
type Status struct {
	Exit   int    // the exit status; 128+n when signal n killed it
	Signal string // the name of the signal that killed it, "" if none
}

// Shared value types of the job and terminal calls, as the agent's
// protocol defines them.
type (
	JobStatus = wire.JobStatus
	WinSize   = wire.WinSize
)

// The causes of a failed call, for errors.Is (see the package doc).
var (
	ErrTimeout    error = timeoutError{}
	ErrNotRunning       = errors.New("the machine is not running")
	ErrFailed           = errors.New("the guest could not do it")
)

// timeoutError is ErrTimeout: errors.Is also matches it to
// context.DeadlineExceeded.
type timeoutError struct{}

func (timeoutError) Error() string        { return "timed out" }
func (timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }
func (timeoutError) Timeout() bool        { return true }

// Error is a failed call.
type Error struct {
	Op string // the operation: "exec", "read_file", "wait_port", ...
	// Guest is the guest's own message, for ErrFailed.
	Guest string
	// Job is the job's status, when the guest sent it with a failed job
	// call.
	Job *JobStatus
	// Err is the cause: ErrTimeout, context.Canceled, ErrNotRunning or
	// ErrFailed, possibly wrapping more (why the machine stopped, the
	// context's cause).
	Err error
}

func (e *Error) Error() string {
	if e.Guest != "" {
		return e.Op + ": " + e.Guest
	}
	return e.Op + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Failed returns the error of an operation the guest reported it could
// not do, with the guest's message.
func Failed(op, msg string) *Error {
	return &Error{Op: op, Guest: msg, Err: ErrFailed}
}

// Done returns the error of a call whose ctx is done: ErrTimeout when its
// deadline passed, context.Canceled otherwise, wrapped with the context's
// cause when it has its own.
func Done(ctx context.Context, op string) *Error {
	var err error = context.Canceled
	if ctx.Err() == context.DeadlineExceeded {
		err = ErrTimeout
	}
	if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() {
		err = fmt.Errorf("%w: %w", err, cause)
	}
	return &Error{Op: op, Err: err}
}

// Stopped returns the error of a call on a machine that is not running,
// or stopped during the call; why, if not nil, says how it stopped.
func Stopped(op string, why error) *Error {
	err := ErrNotRunning
	if why != nil {
		err = fmt.Errorf("%w: %w", ErrNotRunning, why)
	}
	return &Error{Op: op, Err: err}
}
