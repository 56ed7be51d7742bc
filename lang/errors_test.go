package lang_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/lang"
)

func TestSuggest(t *testing.T) {
	names := []string{"succeed", "execute", "wait_for_job", "wait_until_succeeds", "start"}
	for _, tc := range []struct{ name, want string }{
		{"succed", "succeed"},
		{"Succeed", "succeed"},
		{"waitforjob", "wait_for_job"},
		{"wait_for_jbo", "wait_for_job"},
		{"wait_until_succeed", "wait_until_succeeds"},
		{"strat", "start"},
		{"exectue", "execute"}, // a transposition is one edit
		{"xyz", ""},
		{"", ""},
		{"screenshot", ""},
	} {
		if got := lang.Suggest(tc.name, names); got != tc.want {
			t.Errorf("Suggest(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := lang.Suggest("ab", nil); got != "" {
		t.Errorf("Suggest with no candidates = %q", got)
	}
}

func TestUnexpectedKeyword(t *testing.T) {
	err := lang.UnexpectedKeyword("machine", "memroy", []string{"cpus", "memory"})
	if want := `machine: unexpected keyword argument "memroy" (did you mean memory?)`; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	err = lang.UnexpectedKeyword("machine", "zzz", []string{"cpus", "memory"})
	if want := `machine: unexpected keyword argument "zzz"`; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
}

// fakeMachine shows the contract for builtins' attribute errors: Attr
// returns (nil, nil) for an unknown name and Starlark adds the hint.
type fakeMachine struct{}

func (fakeMachine) String() string        { return "machine" }
func (fakeMachine) Type() string          { return "machine" }
func (fakeMachine) Freeze()               {}
func (fakeMachine) Truth() starlark.Bool  { return true }
func (fakeMachine) Hash() (uint32, error) { return 0, errors.New("unhashable") }
func (fakeMachine) AttrNames() []string   { return []string{"succeed", "execute"} }
func (fakeMachine) Attr(string) (starlark.Value, error) {
	return nil, nil
}

// rerun is a built-in like subtest(fn): it calls fn and wraps its error.
func rerun(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var fn starlark.Callable
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "fn", &fn); err != nil {
		return nil, err
	}
	if _, err := starlark.Call(thread, fn, nil, nil); err != nil {
		return nil, fmt.Errorf("rerun: %w", err)
	}
	return starlark.None, nil
}

func TestFormatError(t *testing.T) {
	predeclared := starlark.StringDict{
		"m":     fakeMachine{},
		"rerun": starlark.NewBuiltin("rerun", rerun),
	}
	for _, tc := range []struct{ src, want string }{
		{
			"m.succed('true')",
			"t.star:1:2: machine has no .succed field or method (did you mean .succeed?)\n" +
				"Traceback (most recent call last):\n" +
				"  t.star:1:2: in <toplevel>",
		},
		{
			// A built-in calling back into Starlark: one traceback, no
			// repeated frames, the builtin shown between the calls.
			"def f():\n    fail('inner')\nrerun(f)",
			"t.star:2:9: fail: inner\n" +
				"Traceback (most recent call last):\n" +
				"  t.star:3:6: in <toplevel>\n" +
				"  <builtin>: in rerun\n" +
				"  t.star:2:9: in f",
		},
		{
			"rerun(fnn = 1)",
			"t.star:1:6: rerun: unexpected keyword argument \"fnn\" (did you mean fn?)\n" +
				"Traceback (most recent call last):\n" +
				"  t.star:1:6: in <toplevel>",
		},
	} {
		l := lang.New(lang.Config{Predeclared: predeclared})
		_, err := l.Exec(t.Context(), "t.star", tc.src)
		if err == nil {
			t.Errorf("%q: no error", tc.src)
			continue
		}
		if got := lang.FormatError(err); got != tc.want {
			t.Errorf("%q: got\n%s\nwant\n%s", tc.src, got, tc.want)
		}
		if first, _, _ := strings.Cut(tc.want, "\n"); err.Error() != first {
			t.Errorf("%q: Error() = %q, want %q", tc.src, err.Error(), first)
		}
	}
}

func TestFormatErrorPlain(t *testing.T) {
	err := errors.New("open x.star: no such file or directory")
	if got := lang.FormatError(err); got != err.Error() {
		t.Errorf("got %q", got)
	}
}

func TestFormatErrorLongTraceback(t *testing.T) {
	src := "def even(k):\n    return odd(k - 1) if k else 1 // 0\n" +
		"def odd(k):\n    return even(k - 1)\n" +
		"even(100)"
	_, err := lang.New(lang.Config{}).Exec(t.Context(), "t.star", src)
	got := lang.FormatError(err)
	lines := strings.Split(got, "\n")
	if len(lines) != 2+20+1+20 || lines[22] != "  [62 more lines]" {
		t.Errorf("got %d lines:\n%s", len(lines), got)
	}
}
