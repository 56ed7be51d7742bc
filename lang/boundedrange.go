package lang

import (
	"fmt"
	"math"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// valueSize is what one element of a list takes (a starlark.Value).
const valueSize = 16

// checkLen refuses a built-in's argument whose length would take more
// memory than the limit, before the built-in allocates for it.
func (b *budget) checkLen(fnname string, args starlark.Tuple) error {
	if b.limits.Memory == 0 {
		return nil
	}
	for _, a := range args {
		if n := starlark.Len(a); n > 0 && uint64(n) > b.limits.Memory/valueSize {
			size := "more than 16 EiB"
			if uint64(n) < math.MaxUint64/valueSize {
				size = FormatSize(uint64(n) * valueSize)
			}
			return fmt.Errorf("%s: %d elements would take %s, over the script's memory limit of %s; raise it with --max-memory SIZE (0: no limit)",
				fnname, n, size, FormatSize(b.limits.Memory))
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
