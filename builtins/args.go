package builtins

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/runtime"
)

// DefaultTimeout is the timeout= of every builtin that blocks, unless the
// script gives one: generous, because a loaded machine under software
// emulation is slow, and bounded, because a test must end.
const DefaultTimeout = 300 * time.Second

// number is a float parameter: an int or a float, finite, as SPEC
// writes them (loss = 0). Every float parameter of a builtin is a number
// or, for seconds, a seconds.
type number float64

var _ starlark.Unpacker = (*number)(nil)

func (n *number) Unpack(v starlark.Value) error {
	f, ok := asFloat(v)
	if !ok {
		return fmt.Errorf("want a number (int or float), got %s", v.Type())
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("want a finite number, got %v", v)
	}
	*n = number(f)
	return nil
}

// asFloat returns the value of an int or a float.
func asFloat(v starlark.Value) (float64, bool) {
	switch v.(type) {
	case starlark.Int, starlark.Float:
		return starlark.AsFloat(v)
	}
	return 0, false
}

// seconds is a timeout= argument: seconds as an int or float >= 0, or
// None for no bound (0).
type seconds time.Duration

var _ starlark.Unpacker = (*seconds)(nil)

func (s *seconds) Unpack(v starlark.Value) error {
	if v == starlark.None {
		*s = 0
		return nil
	}
	f, ok := asFloat(v)
	switch {
	case !ok:
		return fmt.Errorf("want seconds (int or float) or None, got %s", v.Type())
	case f < 0 || math.IsNaN(f):
		return fmt.Errorf("want seconds >= 0, got %v", v)
	case f > float64(math.MaxInt64/int64(time.Second)):
		return fmt.Errorf("%v seconds is too many", v)
	}
	*s = seconds(f * float64(time.Second))
	return nil
}

func (s seconds) duration() time.Duration { return time.Duration(s) }

// bound returns ctx ending after s (with the cause "timed out after s"),
// or ctx as it is when s is 0 (no bound). Call cancel when done.
func (s seconds) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	d := s.duration()
	if d <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, d, fmt.Errorf("timed out after %s", d))
}

// command is a command argument: a string run by /bin/sh -c, or a list or
// tuple of strings run as an argument vector.
type command runtime.Command

var _ starlark.Unpacker = (*command)(nil)

func (c *command) Unpack(v starlark.Value) error {
	switch x := v.(type) {
	case starlark.String:
		if x == "" {
			return fmt.Errorf("want a command, got an empty string")
		}
		if strings.IndexByte(string(x), 0) >= 0 {
			return fmt.Errorf("the command %q holds a NUL byte, which no program argument can", string(x))
		}
		*c = command{Shell: string(x)}
		return nil
	case *starlark.List, starlark.Tuple:
		argv, err := argList(v)
		if err != nil {
			return err
		}
		if len(argv) == 0 {
			return fmt.Errorf("want a command, got an empty %s", v.Type())
		}
		*c = command{Argv: argv}
		return nil
	}
	return fmt.Errorf("want a command (string, or list of strings), got %s", v.Type())
}

// argList returns the elements of a list or tuple of strings that are
// arguments of a program: without NUL bytes.
func argList(v starlark.Value) ([]string, error) {
	args, err := stringList(v)
	if err != nil {
		return nil, err
	}
	for i, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			return nil, fmt.Errorf("%q at index %d holds a NUL byte, which no program argument can", a, i)
		}
	}
	return args, nil
}

// maxListLen bounds the lists a builtin takes: far above any list of
// vlans or ports, and far below a range(1 << 40).
const maxListLen = 1 << 16

// stringList returns the elements of a list or tuple of strings.
func stringList(v starlark.Value) ([]string, error) {
	seq, ok := v.(starlark.Indexable)
	if !ok || v.Type() != "list" && v.Type() != "tuple" {
		return nil, fmt.Errorf("want a list of strings, got %s", v.Type())
	}
	out := make([]string, seq.Len())
	for i := range out {
		s, ok := starlark.AsString(seq.Index(i))
		if !ok {
			return nil, fmt.Errorf("want a list of strings, got %s at index %d", seq.Index(i).Type(), i)
		}
		out[i] = s
	}
	return out, nil
}

// intList returns the elements of a list, tuple or range of ints.
func intList(v starlark.Value) ([]int, error) {
	seq, ok := v.(starlark.Indexable)
	if !ok || v.Type() != "list" && v.Type() != "tuple" && v.Type() != "range" {
		return nil, fmt.Errorf("want a list of ints, got %s", v.Type())
	}
	if seq.Len() > maxListLen {
		return nil, fmt.Errorf("want a list of at most %d ints, got a %s of %d", maxListLen, v.Type(), seq.Len())
	}
	out := make([]int, seq.Len())
	for i := range out {
		if err := starlark.AsInt(seq.Index(i), &out[i]); err != nil {
			return nil, fmt.Errorf("want a list of ints, got %s at index %d", seq.Index(i).Type(), i)
		}
	}
	return out, nil
}

// unpackArgs is starlark.UnpackArgs, except that an unknown keyword
// argument is reported with the nearest parameter name whatever its
// position (UnpackArgs' own suggestion misses some parameters).
func unpackArgs(fnname string, args starlark.Tuple, kwargs []starlark.Tuple, pairs ...any) error {
	var params []string
	for i := 0; i+1 < len(pairs); i += 2 {
		params = append(params, strings.TrimRight(pairs[i].(string), "?"))
	}
	for _, kv := range kwargs {
		if name := string(kv[0].(starlark.String)); !slices.Contains(params, name) {
			return lang.UnexpectedKeyword(fnname, name, params)
		}
	}
	if err := starlark.UnpackArgs(fnname, args, kwargs, pairs...); err != nil {
		// Starlark quotes a parameter given by keyword, not one given by
		// position: one form for both.
		return errors.New(quotedParam.ReplaceAllString(err.Error(), "$1: for parameter $2:"))
	}
	return nil
}

var quotedParam = regexp.MustCompile(`^([^:]*): for parameter "(\w+)":`)
