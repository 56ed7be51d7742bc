package builtins

import (
	"context"
	"errors"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/vmtest/vmtest/lang"
)

// cancelPoll is how often a blocked builtin looks whether its thread was
// cancelled with Thread.Cancel.
const cancelPoll = 100 * time.Millisecond

// errThreadCancelled is what a blocking builtin returns when its thread
// was cancelled directly; the interpreter then reports the thread's own
// reason.
var errThreadCancelled = errors.New("cancelled")

// block runs op on a goroutine it waits for, with a context that is done
// when the thread's context (lang.Context) is done or when the thread is
// cancelled with Thread.Cancel, which it polls every 100 ms by calling a
// no-op Starlark function on the thread (the interpreter checks for
// cancellation at every step; nothing else exposes it). Call it only from
// the goroutine running thread, inside a builtin.
func (s *Script) block(thread *starlark.Thread, op func(ctx context.Context) error) error {
	parent := lang.Context(thread)
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	done := make(chan error, 1)
	go func() { done <- op(ctx) }()
	t := time.NewTicker(cancelPoll)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-t.C:
			if _, err := starlark.Call(thread, s.probe, nil, nil); err != nil {
				if parent.Err() != nil {
					return <-done // the context cancelled the thread: op says why
				}
				cancel(errThreadCancelled)
				<-done
				return errThreadCancelled
			}
		}
	}
}

// newProbe returns the no-op function block calls.
func newProbe() starlark.Value {
	globals, err := starlark.ExecFileOptions(&syntax.FileOptions{}, &starlark.Thread{Name: "probe"}, "<vmtest>", "def cancellation_probe():\n    pass\n", nil)
	if err != nil {
		panic(err) // a constant program
	}
	return globals["cancellation_probe"]
}
