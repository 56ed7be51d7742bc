package lang

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Limits bound a script's computation, so that an endless loop or a list
// of a trillion elements ends with an error that names the limit and how
// to raise it, not with a hang or Go's out-of-memory crash.
//
// Steps count Starlark's computation steps (Thread.ExecutionSteps) of
// every thread of a Loader together, plus one per element that a
// built-in takes from a range (list(range(n)) runs in one step). Memory
// bounds vmtest's Go heap while the script computes: it is checked every
// checkEvery steps and elements, after a garbage collection, so what
// counts is what is live. A built-in that would allocate more than Memory
// at once from a range's length (list, tuple, sorted, reversed,
// enumerate, zip, bytes) is refused before it allocates. Starlark's own
// repetition operators cap a result at 2^30 elements; that much can still
// be allocated before the next check.
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

// valueSize is what one element of a list takes (a starlark.Value).
const valueSize = 16

// A budget is the Limits of one Loader and what its threads have used.
type budget struct {
	limits Limits
	steps  atomic.Uint64
	// gcAt is the heap size above which a check collects garbage before
	// it measures again: after a collection found the heap under the
	// limit, the next is forced only when it could be over.
	gcAt atomic.Uint64

	mu      sync.Mutex
	threads map[*starlark.Thread]struct{} // running
}

func newBudget(l Limits) *budget {
	if l == (Limits{}) {
		return nil
	}
	return &budget{limits: l, threads: map[*starlark.Thread]struct{}{}}
}

// start makes thread count against the budget until done is called. It
// must be called before thread runs.
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
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.threads, thread)
		b.mu.Unlock()
	}
}

// charge counts n steps and checks the limits. Over a limit, it cancels
// every running thread and returns false.
func (b *budget) charge(n uint64) bool {
	total := b.steps.Add(n)
	if max := b.limits.Steps; max > 0 && total > max {
		b.stop(fmt.Sprintf("the script went over its limit of %d computation steps (an endless loop?); raise it with --max-steps N (0: no limit)", max))
		return false
	}
	if heap := b.overMemory(); heap > 0 {
		b.stop(fmt.Sprintf("the script went over its memory limit of %s (vmtest's heap holds %s); raise it with --max-memory SIZE (0: no limit)",
			FormatSize(b.limits.Memory), FormatSize(heap)))
		return false
	}
	return true
}

func (b *budget) stop(reason string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for t := range b.threads {
		t.Cancel(reason)
	}
}

// overMemory returns the size of the heap's live objects if it is over
// the limit, else 0.
func (b *budget) overMemory() uint64 {
	max := b.limits.Memory
	if max == 0 {
		return 0
	}
	if h := heapObjects(); h <= max || h <= b.gcAt.Load() {
		return 0
	}
	runtime.GC()
	h := heapObjects()
	if h <= max {
		b.gcAt.Store(h + max)
		return 0
	}
	return h
}

// heapObjects returns the bytes of the heap's objects, live or not yet
// swept.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// checkLen refuses a built-in's argument whose length would take more
// memory than the limit, before the built-in allocates for it.
func (b *budget) checkLen(fnname string, args starlark.Tuple) error {
	if b.limits.Memory == 0 {
		return nil
	}
	for _, a := range args {
		if n := starlark.Len(a); n > 0 && uint64(n) > b.limits.Memory/valueSize {
			return fmt.Errorf("%s: %d elements would take %s, over the script's memory limit of %s; raise it with --max-memory SIZE (0: no limit)",
				fnname, n, FormatSize(uint64(n)*valueSize), FormatSize(b.limits.Memory))
		}
	}
	return nil
}

// bounded returns the built-ins that count against the budget, to be
// predeclared over the universe's: range, whose elements taken by a
// built-in are charged, and the built-ins that allocate from a length.
func (b *budget) bounded() starlark.StringDict {
	d := starlark.StringDict{
		"range": starlark.NewBuiltin("range", func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			r, err := starlark.Call(thread, starlark.Universe["range"], args, kwargs)
			if err != nil {
				return nil, err
			}
			return boundedRange{r: r, b: b}, nil
		}),
	}
	for _, name := range []string{"list", "tuple", "sorted", "reversed", "enumerate", "zip", "bytes"} {
		inner := starlark.Universe[name]
		d[name] = starlark.NewBuiltin(name, func(thread *starlark.Thread, fn *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if err := b.checkLen(name, args); err != nil {
				return nil, err
			}
			return starlark.Call(thread, inner, args, kwargs)
		})
	}
	return d
}

// A boundedRange is a range whose iteration is charged to a budget: a
// built-in that takes its elements (set(range(n)), any(range(n))) runs
// no Starlark steps of its own.
type boundedRange struct {
	r starlark.Value // the universe's range
	b *budget
}

var (
	_ starlark.Indexable  = boundedRange{}
	_ starlark.Sequence   = boundedRange{}
	_ starlark.Sliceable  = boundedRange{}
	_ starlark.Container  = boundedRange{}
	_ starlark.Comparable = boundedRange{}
)

func (r boundedRange) String() string        { return r.r.String() }
func (r boundedRange) Type() string          { return r.r.Type() }
func (r boundedRange) Freeze()               {}
func (r boundedRange) Truth() starlark.Bool  { return r.r.Truth() }
func (r boundedRange) Hash() (uint32, error) { return r.r.Hash() }
func (r boundedRange) Len() int              { return starlark.Len(r.r) }
func (r boundedRange) Index(i int) starlark.Value {
	return r.r.(starlark.Indexable).Index(i)
}
func (r boundedRange) Slice(start, end, step int) starlark.Value {
	return boundedRange{r: r.r.(starlark.Sliceable).Slice(start, end, step), b: r.b}
}
func (r boundedRange) Has(v starlark.Value) (bool, error) { return r.r.(starlark.Container).Has(v) }
func (r boundedRange) CompareSameType(op syntax.Token, y starlark.Value, depth int) (bool, error) {
	return starlark.CompareDepth(op, r.r, y.(boundedRange).r, depth)
}
func (r boundedRange) Iterate() starlark.Iterator {
	return &rangeIterator{it: r.r.(starlark.Iterable).Iterate(), b: r.b}
}

type rangeIterator struct {
	it starlark.Iterator
	b  *budget
	n  uint64
}

// Next stops early when the budget is spent; the budget has then
// cancelled every running thread, so no Starlark code sees the cut.
func (it *rangeIterator) Next(p *starlark.Value) bool {
	if it.n++; it.n%checkEvery == 0 && !it.b.charge(checkEvery) {
		return false
	}
	return it.it.Next(p)
}

func (it *rangeIterator) Done() { it.it.Done() }
