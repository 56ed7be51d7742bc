package lang

import (
	"fmt"
	"sync"
	"sync/atomic"

	"go.starlark.net/starlark"
)

// Limits bound a script's computation, so that an endless loop or a list
// of a trillion elements ends with an error that names the limit and how
// to raise it, not with a hang or Go's out-of-memory crash.
//
// Steps count Starlark's computation steps (Thread.ExecutionSteps) of
// the threads of a Loader together, plus one per element that a
// built-in takes from a range (list(range(n)) runs in one step), from
// the moment one starts running while none does: a whole file run, a
// line at the prompt. Memory bounds vmtest's Go heap while a thread of
// the Loader runs: a watchdog measures it, after a garbage collection
// when it looks over the limit, so what counts is what is live. A
// built-in that would allocate more than Memory at once from a range's
// length (list, tuple, sorted, reversed, enumerate, zip, bytes) is
// refused before it allocates; Starlark's own repetition operators cap
// a result at 2^30 elements, which can still be allocated at once.
//
// When a limit is reached, every thread of the Loader that is running
// stops with an error whose message begins "the script" and says which
// flag raises the limit (--max-steps, --max-memory).
type Limits struct {
	Steps  uint64 // 0: no limit
	Memory uint64 // bytes; 0: no limit
}

// DefaultLimits are the limits of vmtest's verbs unless flags say
// otherwise: far above what a test script computes (a billion steps take
// tens of seconds), and below what takes a CI runner's memory.
var DefaultLimits = Limits{Steps: 1_000_000_000, Memory: 2 << 30}

// checkEvery is how many steps, or range elements, pass between two
// checks of the limits.
const checkEvery = 1 << 16

// A budget is the Limits of one Loader and what its running threads
// have used.
type budget struct {
	limits Limits
	steps  atomic.Uint64
	// stopped: a limit was reached, and every running thread cancelled.
	// A range stops giving elements to the built-in that takes them.
	stopped atomic.Bool
	// gcAt is the heap size above which the watchdog collects garbage
	// before it measures again: after a collection found the heap under
	// the limit, the next is forced only when it could be over.
	gcAt atomic.Uint64

	mu      sync.Mutex
	threads map[*starlark.Thread]struct{} // running
	watch   *watchdog                     // while threads run, with a memory limit
}

func newBudget(l Limits) *budget {
	if l == (Limits{}) {
		return nil
	}
	return &budget{limits: l, threads: map[*starlark.Thread]struct{}{}}
}

// start makes thread count against the budget until done is called. It
// must be called before thread runs. done blocks until the watchdog has
// stopped, when thread was the last running.
func (b *budget) start(thread *starlark.Thread) (done func()) {
	if b == nil {
		return func() {}
	}
	var charged uint64
	thread.SetMaxExecutionSteps(checkEvery)
	thread.OnMaxSteps = func(thread *starlark.Thread) {
		b.charge(thread.Steps - charged)
		charged = thread.Steps
		thread.SetMaxExecutionSteps(thread.Steps + checkEvery)
	}
	b.mu.Lock()
	b.threads[thread] = struct{}{}
	if len(b.threads) == 1 {
		// The first thread of a run of computation: steps count afresh.
		b.steps.Store(0)
		b.stopped.Store(false)
		if b.limits.Memory > 0 {
			b.watch = startWatchdog(b)
		}
	}
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.threads, thread)
		var w *watchdog
		if len(b.threads) == 0 {
			w, b.watch = b.watch, nil
		}
		b.mu.Unlock()
		w.stop()
	}
}

// charge counts n steps and checks the step limit. It returns false when
// a limit is reached: every running thread has then been cancelled.
func (b *budget) charge(n uint64) bool {
	if max := b.limits.Steps; max > 0 && b.steps.Add(n) > max {
		b.stop(fmt.Sprintf("the script went over its limit of %d computation steps (an endless loop?); raise it with --max-steps N (0: no limit)", max))
	}
	return !b.stopped.Load()
}

// stop cancels every running thread with reason. With none running, it
// does nothing: the next thread starts afresh.
func (b *budget) stop(reason string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.threads) == 0 {
		return
	}
	b.stopped.Store(true)
	for t := range b.threads {
		t.Cancel(reason)
	}
}
