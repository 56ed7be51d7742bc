package builtins

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/runtime"
)

// start_all(timeout=300) boots every machine that is not running, in
// parallel, and returns when all are up.
func (s *Script) startAll(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return s.networkAction(thread, b, args, kwargs, s.net.StartAll)
}

// networkAction is the body of the actions on the whole network that
// take (timeout=300): it defines the network if this is the first action,
// then runs op bounded by the timeout (see Script.block).
func (s *Script) networkAction(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple, op func(context.Context) error) (starlark.Value, error) {
	timeout := seconds(DefaultTimeout)
	if err := unpackArgs(b.Name(), args, kwargs, "timeout?", &timeout); err != nil {
		return nil, err
	}
	if err := s.define(thread); err != nil {
		return nil, wrap(b, err)
	}
	return starlark.None, wrap(b, s.block(thread, func(ctx context.Context) error {
		ctx, cancel := timeout.bound(ctx)
		defer cancel()
		return op(ctx)
	}))
}

// subtest(name, fn) runs fn() as a named, timed step of the test and
// returns its result. Its failure is the test's: the error goes on.
func (s *Script) subtest(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var fn starlark.Callable
	if err := unpackArgs(b.Name(), args, kwargs, "name", &name, "fn", &fn); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("%s: for parameter name: want a name, got an empty string", b.Name())
	}
	parent := s.step
	step := s.net.Log().Begin(name, parent)
	s.step = step
	v, err := starlark.Call(thread, fn, nil, nil)
	s.step = parent
	step.End(err)
	return v, err
}

// retry(fn, timeout=300, interval=1) calls fn() until it succeeds: returns
// without an error and with a value other than False. It returns that
// value. After timeout seconds it fails with the last attempt's error.
func (s *Script) retry(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var fn starlark.Callable
	timeout := seconds(DefaultTimeout)
	interval := seconds(time.Second)
	if err := unpackArgs(b.Name(), args, kwargs, "fn", &fn, "timeout?", &timeout, "interval?", &interval); err != nil {
		return nil, err
	}
	outer := lang.Context(thread)
	ctx := outer
	if d := timeout.duration(); d > 0 {
		// Calls inside fn that block give up at the deadline too.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(outer, d, fmt.Errorf("retry timed out after %s", d))
		defer cancel()
		defer lang.Narrow(thread, ctx)()
	}
	giveUp := func(attempt int, err error) error {
		if err != nil {
			return fmt.Errorf("%s: gave up after %d attempts in %s; the last one failed: %w", b.Name(), attempt, timeout.duration(), err)
		}
		return fmt.Errorf("%s: gave up after %d attempts in %s; the last one returned False", b.Name(), attempt, timeout.duration())
	}
	for attempt := 1; ; attempt++ {
		v, err := starlark.Call(thread, fn, nil, nil)
		if err == nil && v != starlark.False {
			return v, nil
		}
		if errors.Is(err, runtime.ErrDeclareOnly) || outer.Err() != nil {
			return nil, err // stopped or cancelled: not a failed attempt
		}
		if ctx.Err() != nil {
			return nil, giveUp(attempt, err)
		}
		serr := s.block(thread, func(ctx context.Context) error { return runtime.Pause(ctx, interval.duration()) })
		switch {
		case serr == nil:
		case outer.Err() != nil || serr == errThreadCancelled:
			return nil, wrap(b, serr)
		default:
			return nil, giveUp(attempt, err)
		}
	}
}

// sleep(seconds) waits. It is an action.
func (s *Script) sleep(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var d seconds
	if err := unpackArgs(b.Name(), args, kwargs, "seconds", &d); err != nil {
		return nil, err
	}
	if err := s.define(thread); err != nil {
		return nil, wrap(b, err)
	}
	return starlark.None, wrap(b, s.block(thread, func(ctx context.Context) error {
		return s.net.Sleep(ctx, d.duration())
	}))
}

// log(msg) writes msg to the run's log (terminal and log.txt).
func (s *Script) log(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var msg starlark.Value
	if err := unpackArgs(b.Name(), args, kwargs, "msg", &msg); err != nil {
		return nil, err
	}
	text, ok := starlark.AsString(msg)
	if !ok {
		text = msg.String()
	}
	s.net.Log().Printf("%s", text)
	return starlark.None, nil
}

// join_all(timeout=300) waits until every machine that runs has powered
// off by itself, as the NixOS driver's join_all.
func (s *Script) joinAll(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return s.networkAction(thread, b, args, kwargs, func(ctx context.Context) error {
		for _, m := range s.net.Machines() {
			if err := m.WaitForShutdown(ctx); err != nil {
				return err
			}
		}
		return nil
	})
}
