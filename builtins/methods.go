package builtins

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/runtime"
)

// wrap returns the error of builtin b: an error of Starlark code (a config
// function's) as is, so that it keeps its position and traceback;
// anything else prefixed with the builtin's name.
func wrap(b *starlark.Builtin, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*starlark.EvalError); ok {
		return err
	}
	return fmt.Errorf("%s: %w", b.Name(), err)
}

// do is the body of every method that acts on the machine: it defines
// the network if this is the first action, then runs op with the machine
// (see Script.block), bounded by timeout if it is not 0.
func (m *Machine) do(thread *starlark.Thread, b *starlark.Builtin, timeout seconds, op func(ctx context.Context, rm *runtime.Machine) error) error {
	rm, err := m.runtime(thread)
	if err != nil {
		return wrap(b, err)
	}
	return wrap(b, m.s.block(thread, func(ctx context.Context) error {
		ctx, cancel := timeout.bound(ctx)
		defer cancel()
		return op(ctx, rm)
	}))
}

// start(timeout=300) boots the machine unless it runs; it returns when the
// machine is up.
func (m *Machine) start(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "timeout?", &timeout); err != nil {
		return nil, err
	}
	return starlark.None, m.do(thread, b, timeout, func(ctx context.Context, rm *runtime.Machine) error { return rm.Start(ctx) })
}

// shutdown(timeout=300) powers the machine off cleanly.
func (m *Machine) shutdown(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "timeout?", &timeout); err != nil {
		return nil, err
	}
	return starlark.None, m.do(thread, b, timeout, func(ctx context.Context, rm *runtime.Machine) error { return rm.Shutdown(ctx) })
}

// crash() cuts the machine's power.
func (m *Machine) crash(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := unpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	return starlark.None, m.do(thread, b, 0, func(ctx context.Context, rm *runtime.Machine) error { return rm.Crash() })
}

// reboot(timeout=300) powers the machine off cleanly and boots it again.
func (m *Machine) reboot(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "timeout?", &timeout); err != nil {
		return nil, err
	}
	return starlark.None, m.do(thread, b, timeout, func(ctx context.Context, rm *runtime.Machine) error { return rm.Reboot(ctx) })
}

// wait_for_shutdown(timeout=300) waits until the machine powers off by
// itself.
func (m *Machine) waitForShutdown(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "timeout?", &timeout); err != nil {
		return nil, err
	}
	return starlark.None, m.do(thread, b, timeout, func(ctx context.Context, rm *runtime.Machine) error { return rm.WaitForShutdown(ctx) })
}

// unpackCommand checks the arguments (cmd, timeout=300) of the methods
// that run a command.
func unpackCommand(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (runtime.Command, error) {
	var cmd command
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "cmd", &cmd, "timeout?", &timeout); err != nil {
		return runtime.Command{}, err
	}
	c := runtime.Command(cmd)
	c.Timeout = timeout.duration()
	return c, nil
}

// execute(cmd, timeout=300) runs cmd and returns (status, stdout).
func (m *Machine) execute(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	c, err := unpackCommand(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	var out runtime.Output
	err = m.do(thread, b, 0, func(ctx context.Context, rm *runtime.Machine) (err error) {
		out, err = rm.Execute(ctx, c)
		return err
	})
	if err != nil {
		return nil, err
	}
	return starlark.Tuple{starlark.MakeInt(out.Exit), starlark.String(out.Stdout)}, nil
}

// runStdout is the body of the methods that return a command's stdout.
func (m *Machine) runStdout(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple,
	run func(rm *runtime.Machine, ctx context.Context, c runtime.Command) (string, error)) (starlark.Value, error) {
	c, err := unpackCommand(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	var out string
	err = m.do(thread, b, 0, func(ctx context.Context, rm *runtime.Machine) (err error) {
		out, err = run(rm, ctx, c)
		return err
	})
	if err != nil {
		return nil, err
	}
	return starlark.String(out), nil
}

// succeed(cmd, timeout=300) runs cmd and returns its stdout; a non-zero
// exit status fails the test.
func (m *Machine) succeed(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return m.runStdout(thread, b, args, kwargs, (*runtime.Machine).Succeed)
}

// fail(cmd, timeout=300) runs cmd and returns its stdout; a zero exit
// status fails the test.
func (m *Machine) fail(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return m.runStdout(thread, b, args, kwargs, (*runtime.Machine).Fail)
}

// wait_until_succeeds(cmd, timeout=300) runs cmd every second until it
// succeeds and returns its stdout.
func (m *Machine) waitUntilSucceeds(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return m.runStdout(thread, b, args, kwargs, func(rm *runtime.Machine, ctx context.Context, c runtime.Command) (string, error) {
		timeout := c.Timeout
		c.Timeout = 0
		return rm.WaitUntil(ctx, c, true, timeout)
	})
}

// wait_until_fails(cmd, timeout=300) runs cmd every second until it fails
// and returns its stdout.
func (m *Machine) waitUntilFails(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return m.runStdout(thread, b, args, kwargs, func(rm *runtime.Machine, ctx context.Context, c runtime.Command) (string, error) {
		timeout := c.Timeout
		c.Timeout = 0
		return rm.WaitUntil(ctx, c, false, timeout)
	})
}

// port is a TCP port argument.
type port int

func (p *port) Unpack(v starlark.Value) error {
	var n int
	if err := starlark.AsInt(v, &n); err != nil {
		return fmt.Errorf("want a port number, got %s", v.Type())
	}
	if n < 1 || n > 65535 {
		return fmt.Errorf("port %d is out of range 1..65535", n)
	}
	*p = port(n)
	return nil
}

func (m *Machine) waitForPort(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple, closed bool) (starlark.Value, error) {
	var p port
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "port", &p, "timeout?", &timeout); err != nil {
		return nil, err
	}
	return starlark.None, m.do(thread, b, 0, func(ctx context.Context, rm *runtime.Machine) error {
		return rm.WaitForPort(ctx, int(p), closed, timeout.duration())
	})
}

// wait_for_open_port(port, timeout=300) waits until a TCP socket listens
// on port in the guest.
func (m *Machine) waitForOpenPort(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return m.waitForPort(thread, b, args, kwargs, false)
}

// wait_for_closed_port(port, timeout=300) waits until nothing listens on
// port.
func (m *Machine) waitForClosedPort(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return m.waitForPort(thread, b, args, kwargs, true)
}

// guestPath is an absolute path in the guest.
type guestPath string

func (p *guestPath) Unpack(v starlark.Value) error {
	s, ok := starlark.AsString(v)
	if !ok {
		return fmt.Errorf("want a path, got %s", v.Type())
	}
	*p = guestPath(s)
	return runtime.CheckGuestPath(s)
}

// homePath is a guest path where a relative one is relative to root's
// home, /root, where commands run (as the NixOS driver's).
type homePath string

func (p *homePath) Unpack(v starlark.Value) error {
	s, ok := starlark.AsString(v)
	if !ok {
		return fmt.Errorf("want a path, got %s", v.Type())
	}
	if s == "" {
		return fmt.Errorf("want a path, got an empty string")
	}
	if !strings.HasPrefix(s, "/") {
		s = path.Join("/root", s)
	}
	*p = homePath(s)
	return runtime.CheckGuestPath(s)
}

// wait_for_file(path, timeout=300) waits until path exists in the guest;
// a relative path is relative to /root.
func (m *Machine) waitForFile(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var p homePath
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "path", &p, "timeout?", &timeout); err != nil {
		return nil, err
	}
	return starlark.None, m.do(thread, b, 0, func(ctx context.Context, rm *runtime.Machine) error {
		return rm.WaitForFile(ctx, string(p), timeout.duration())
	})
}

// wait_for_console_text(regex, timeout=300) waits until a console line
// matches regex (Go RE2 syntax) and returns the line.
func (m *Machine) waitForConsoleText(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return m.waitForMatch(thread, b, args, kwargs, (*runtime.Machine).WaitForConsoleText)
}

// waitForMatch is a method (regex, timeout=300) that waits, with wait,
// until something of the machine matches regex (Go RE2 syntax), and
// returns what matched. An invalid regex is an error of the call, before
// anything boots.
func (m *Machine) waitForMatch(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple,
	wait func(rm *runtime.Machine, ctx context.Context, re *regexp.Regexp, timeout time.Duration) (string, error)) (starlark.Value, error) {
	var pattern string
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "regex", &pattern, "timeout?", &timeout); err != nil {
		return nil, err
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("%s: for parameter regex: %w", b.Name(), err)
	}
	var match string
	err = m.do(thread, b, 0, func(ctx context.Context, rm *runtime.Machine) (err error) {
		match, err = wait(rm, ctx, re, timeout.duration())
		return err
	})
	if err != nil {
		return nil, err
	}
	return starlark.String(match), nil
}

// copy_from_host(src, dst, timeout=300) copies a host file or directory
// into the guest. A relative src is relative to the directory of the file
// that calls copy_from_host.
func (m *Machine) copyFromHost(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var src string
	var dst guestPath
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "src", &src, "dst", &dst, "timeout?", &timeout); err != nil {
		return nil, err
	}
	if src == "" {
		return nil, fmt.Errorf("%s: for parameter src: want a host path, got an empty string", b.Name())
	}
	if err := runtime.CheckPath(src); err != nil {
		return nil, fmt.Errorf("%s: for parameter src: %w", b.Name(), err)
	}
	if !filepath.IsAbs(src) {
		src = filepath.Join(callerDir(thread), src)
	}
	return starlark.None, m.do(thread, b, timeout, func(ctx context.Context, rm *runtime.Machine) error {
		return rm.CopyFromHost(ctx, src, string(dst))
	})
}

// copy_from_vm(src, target_dir="", timeout=300) copies a guest file or
// directory into the test's output directory and returns the host path.
func (m *Machine) copyFromVM(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var src guestPath
	var target string
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "src", &src, "target_dir?", &target, "timeout?", &timeout); err != nil {
		return nil, err
	}
	if err := runtime.CheckPath(target); err != nil {
		return nil, fmt.Errorf("%s: for parameter target_dir: %w", b.Name(), err)
	}
	if target != "" && !filepath.IsLocal(target) {
		return nil, fmt.Errorf("%s: for parameter target_dir: %q must be a relative path inside the output directory", b.Name(), target)
	}
	var dst string
	err := m.do(thread, b, timeout, func(ctx context.Context, rm *runtime.Machine) (err error) {
		dst, err = rm.CopyFromVM(ctx, string(src), target)
		return err
	})
	if err != nil {
		return nil, err
	}
	return starlark.String(dst), nil
}

// is_up() reports whether the machine is up, as the booted attribute; it
// boots nothing.
func (m *Machine) isUp(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := unpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	return m.booted(), nil
}

// sleep(secs) waits secs seconds by the guest's clock, as the NixOS
// driver's machine.sleep: it runs sleep in the guest.
func (m *Machine) sleep(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var secs seconds
	if err := unpackArgs(b.Name(), args, kwargs, "secs", &secs); err != nil {
		return nil, err
	}
	c := runtime.Command{Shell: fmt.Sprintf("sleep %.3f", secs.duration().Seconds())}
	return starlark.None, m.do(thread, b, 0, func(ctx context.Context, rm *runtime.Machine) error {
		_, err := rm.Succeed(ctx, c)
		return err
	})
}
