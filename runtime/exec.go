package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vmtest/vmtest/vm/guest"
	"github.com/vmtest/vmtest/vm/lines"
)

// Command is a command to run on a machine: a shell string (run by
// /bin/sh -c) or an argument vector.
type Command struct {
	Shell string
	Argv  []string
	// Timeout kills the command after this long (0: no bound); the
	// command then fails with "timed out".
	Timeout time.Duration
}

// Output is what a finished command left.
type Output struct {
	Exit   int    // 128+n when signal n killed it
	Signal string // the signal's name, if one killed it
	Stdout string
	Stderr string // the last 16 KiB
}

// status describes how the command ended: "exit status 3", "killed by
// SIGKILL".
func (o Output) status() string {
	if o.Signal != "" {
		return "killed by " + o.Signal
	}
	return fmt.Sprintf("exit status %d", o.Exit)
}

// failure says how a command that should have succeeded ended: "failed
// with exit status 3", "was killed by SIGKILL".
func (o Output) failure() string {
	if o.Signal != "" {
		return "was killed by " + o.Signal
	}
	return fmt.Sprintf("failed with exit status %d", o.Exit)
}

// stderrTail bounds the stderr a command keeps for reports.
const stderrTail = 16 << 10

// Execute runs c on the machine (booting it first if need be) and returns
// its output whatever its exit status. The command line goes to the log,
// its output to log.txt. The error is an *Error when the command could not
// run, timed out, or the machine stopped or ctx ended meanwhile.
func (m *Machine) Execute(ctx context.Context, c Command) (Output, error) {
	return m.execute(ctx, c, true)
}

func (m *Machine) execute(ctx context.Context, c Command, logged bool) (Output, error) {
	g, err := m.guest(ctx)
	if err != nil {
		return Output{}, err
	}
	cmd := commandString(c)
	if logged {
		m.net.log.Machinef(m.Name(), "$ %s", cmd)
	}
	var stdout bytes.Buffer
	stderr := lines.NewTail(stderrTail)
	outW, errW := io.Writer(&stdout), io.Writer(stderr)
	if logged {
		lo, le := m.net.log.Output(m.Name(), "out"), m.net.log.Output(m.Name(), "err")
		defer lo.Close()
		defer le.Close()
		outW, errW = io.MultiWriter(outW, lo), io.MultiWriter(errW, le)
	}
	callCtx, cancel := withTimeout(ctx, c.Timeout)
	defer cancel()
	st, err := g.Exec(callCtx, guest.Command{Shell: c.Shell, Argv: c.Argv, Env: m.env(), Stdout: outW, Stderr: errW})
	out := Output{Exit: st.Exit, Signal: st.Signal, Stdout: stdout.String(), Stderr: stderr.String()}
	if err != nil {
		e := m.callFailed(ctx, err, fmt.Sprintf("command %q", cmd), c.Timeout)
		e.Command, e.Stdout, e.Stderr = cmd, lastBytes(out.Stdout, stderrTail), out.Stderr
		switch {
		case e.TimedOut:
			e.Status = "timed out after " + c.Timeout.String() + " and killed"
		case ctx.Err() != nil:
			e.Status = "cancelled"
		}
		return out, e
	}
	if logged && (out.Exit != 0 || out.Signal != "") {
		m.net.log.Machinef(m.Name(), "(%s)", out.status())
	}
	return out, nil
}

// Succeed runs c and returns its stdout; a non-zero exit status is an
// *Error.
func (m *Machine) Succeed(ctx context.Context, c Command) (string, error) {
	out, err := m.Execute(ctx, c)
	if err != nil {
		return out.Stdout, err
	}
	if out.Exit != 0 || out.Signal != "" {
		return out.Stdout, m.commandError(c, out, "command %q %s", commandString(c), out.failure())
	}
	return out.Stdout, nil
}

// Fail runs c and returns its stdout; a zero exit status is an *Error.
func (m *Machine) Fail(ctx context.Context, c Command) (string, error) {
	out, err := m.Execute(ctx, c)
	if err != nil {
		return out.Stdout, err
	}
	if out.Exit == 0 && out.Signal == "" {
		return out.Stdout, m.commandError(c, out, "command %q succeeded, expected it to fail", commandString(c))
	}
	return out.Stdout, nil
}

func (m *Machine) commandError(c Command, out Output, format string, args ...any) *Error {
	e := m.errorf(nil, format, args...)
	e.Command, e.Status, e.Stdout, e.Stderr = commandString(c), out.status(), lastBytes(out.Stdout, stderrTail), out.Stderr
	return e
}

// retryInterval is the pause between attempts of WaitUntil.
const retryInterval = time.Second

// WaitUntil runs c every second until it succeeds (exit status 0; with
// succeed false, until it fails) and returns that attempt's stdout. Each
// attempt is bounded by what is left of timeout (0: no bound). After
// timeout, the *Error shows the last attempt. Only the first attempt is
// logged.
func (m *Machine) WaitUntil(ctx context.Context, c Command, succeed bool, timeout time.Duration) (string, error) {
	want := "succeeds"
	if !succeed {
		want = "fails"
	}
	m.net.log.Machinef(m.Name(), "waiting until %q %s", commandString(c), want)
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	start := time.Now()
	for tries := 1; ; tries++ {
		attempt := c
		if timeout > 0 {
			attempt.Timeout = max(time.Until(deadline), time.Millisecond)
		}
		out, err := m.execute(ctx, attempt, false)
		var e *Error
		timedOut := errors.As(err, &e) && e.TimedOut
		if err != nil && !timedOut {
			return out.Stdout, err
		}
		if err == nil && (out.Exit == 0 && out.Signal == "") == succeed {
			done := map[bool]string{true: "succeeded", false: "failed"}[succeed]
			m.net.log.Machinef(m.Name(), "%q %s after %s", commandString(c), done, round(time.Since(start)))
			return out.Stdout, nil
		}
		if timedOut || timeout > 0 && time.Until(deadline) <= 0 {
			status := out.status()
			if timedOut {
				status = "killed at the deadline"
			}
			e := m.commandError(c, out, "command %q did not %s within %s (%d attempts; the last: %s)",
				commandString(c), strings.TrimSuffix(want, "s"), timeout, tries, status)
			e.Status, e.TimedOut = status, true
			return out.Stdout, e
		}
		d := retryInterval
		if timeout > 0 {
			d = min(d, time.Until(deadline))
		}
		if Pause(ctx, d) != nil {
			return out.Stdout, m.commandError(c, out, "waiting until %q %s: cancelled: %v", commandString(c), want, context.Cause(ctx))
		}
	}
}

// lastBytes returns the end of s, at most n bytes.
func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
