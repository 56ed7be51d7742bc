package lang_test

import (
	"context"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/lang"
)

// exec runs src as a main module with limits and returns the first line
// of its error.
func execLimited(t *testing.T, limits lang.Limits, src string) string {
	t.Helper()
	l := lang.New(lang.Config{Limits: limits})
	_, err := l.Exec(context.Background(), "t.star", src)
	if err == nil {
		return ""
	}
	head, _, _ := strings.Cut(lang.FormatError(err), "\n")
	return head
}

// TestStepLimit: an endless loop, in Starlark or in a built-in taking a
// range's elements, stops at the step limit with an error that says how
// to raise it; the next run of the Loader counts afresh.
func TestStepLimit(t *testing.T) {
	const msg = "the script went over its limit of 1000000 computation steps (an endless loop?); raise it with --max-steps N (0: no limit)"
	for src, want := range map[string]string{
		"def f():\n    while True:\n        pass\nf()\n": "t.star:1:1: " + msg, // the loop's jump has no position of its own
		"x = all(range(1, 1 << 62))\n":                   "t.star:1:8: " + msg,
		"x = max(range(1 << 62))\n":                      "t.star:1:8: " + msg,
		"for i in range(1 << 62):\n    pass\n":           "t.star:1:1: " + msg,
		"x = [i for i in range(1000)]\n":                 "",
	} {
		if got := execLimited(t, lang.Limits{Steps: 1_000_000}, src); got != want {
			t.Errorf("%q:\ngot  %s\nwant %s", src, got, want)
		}
	}
}

// TestMemoryLimit: a script whose data outgrows the memory limit stops
// with an error that says how to raise it, whether it grows in Starlark
// steps or inside one built-in; none crashes.
func TestMemoryLimit(t *testing.T) {
	const msg = "the script went over its memory limit of 64 MiB (vmtest's heap holds "
	for _, src := range []string{
		"x = set(range(1 << 40))\n",
		"x = []\nx.extend(range(1 << 40))\n",
		"x = {}\nfor i in range(1 << 40):\n    x[i] = str(i)\n",
		"x = \"a\" * (1 << 24)\ny = [x + str(i) for i in range(100)]\n",
	} {
		got := execLimited(t, lang.Limits{Memory: 64 << 20}, src)
		if !strings.Contains(got, msg) || !strings.HasSuffix(got, "); raise it with --max-memory SIZE (0: no limit)") {
			t.Errorf("%q:\ngot  %s\nwant ...%s...", src, got, msg)
		}
	}
}

// TestNoLimits: the zero Limits bound nothing and keep Starlark's own
// built-ins.
func TestNoLimits(t *testing.T) {
	if got := execLimited(t, lang.Limits{}, "x = [i for i in range(200000)]\nassert_range = type(range(1))\n"); got != "" {
		t.Error(got)
	}
	if p := lang.New(lang.Config{}).Predeclared(); p["range"] != nil {
		t.Errorf("predeclared range without limits: %v", p["range"])
	}
}

func TestSizes(t *testing.T) {
	for s, want := range map[string]uint64{"2GiB": 2 << 30, "512MiB": 512 << 20, "1.5g": 3 << 29, "0": 0, "100b": 100, "4 KiB": 4096} {
		if got, err := lang.ParseSize(s); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "2", "GiB", "2PB", "-1GiB", "1e3MiB"} {
		if got, err := lang.ParseSize(s); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", s, got)
		}
	}
	for n, want := range map[uint64]string{0: "0 bytes", 1023: "1023 bytes", 1024: "1 KiB", 3 << 29: "1.5 GiB", 1 << 40: "1 TiB"} {
		if got := lang.FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestLimitsAfresh: after a file went over its step limit, a later
// thread of the same Loader (a line at the prompt after vmtest run -i)
// counts its steps afresh, and its ranges give every element.
func TestLimitsAfresh(t *testing.T) {
	l := lang.New(lang.Config{Limits: lang.Limits{Steps: 1_000_000}})
	if _, err := l.Exec(context.Background(), "t.star", "def f():\n    while True:\n        pass\nf()\n"); err == nil {
		t.Fatal("an endless loop ended")
	}
	thread, release := l.NewThread(context.Background(), "prompt")
	defer release()
	v, err := starlark.Eval(thread, "<stdin>", "len(list(range(200000))) + len([i for i in range(10000)])", l.Predeclared())
	if err != nil || v.String() != "210000" {
		t.Errorf("got %v, %v; want 210000", v, err)
	}
}
