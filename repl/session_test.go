package repl

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmtest/vmtest/builtins"
	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/runtime"
	"github.com/vmtest/vmtest/stdlib"
)

// fakeTerminal collects output; it has no raw mode.
type fakeTerminal struct {
	mu sync.Mutex
	b  strings.Builder
}

func (t *fakeTerminal) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.Write(p)
}

func (t *fakeTerminal) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}

func (t *fakeTerminal) Raw() (runtime.TTY, func(), error) {
	return nil, nil, errors.New("no raw mode in tests")
}

// newSession returns a Session on a network that boots nothing (it has
// no machines, so sleep() works), after running file at the prompt if
// file is not "".
func newSession(t *testing.T, file string) *Session {
	t.Helper()
	net := runtime.New(runtime.Options{Name: "t", NoPackageCheck: true})
	t.Cleanup(func() { net.Close() })
	script := builtins.New(net, builtins.Options{})
	loader := lang.New(lang.Config{Predeclared: script.Globals(), Stdlib: stdlib.FS()})
	s := NewSession(Config{Loader: loader, Globals: script.Globals(), File: file, Output: NewOutput(nil)})
	if file != "" {
		var term fakeTerminal
		if err := s.ExecFile(t.Context(), &term); err != nil {
			t.Fatalf("%v\n%s", err, term.String())
		}
	}
	return s
}

func eval(t *testing.T, s *Session, src string) (string, bool) {
	t.Helper()
	var term fakeTerminal
	ok, err := s.Eval(t.Context(), src, &term)
	if err != nil {
		t.Fatal(err)
	}
	return term.String(), ok
}

func TestEval(t *testing.T) {
	s := newSession(t, "")
	for _, tc := range []struct {
		src, want string
		ok        bool
	}{
		{"1 + 2\n", "3\n", true},
		{"x = [1, 2]\n", "", true},
		{"x\n", "[1, 2]\n", true},
		{"_\n", "[1, 2]\n", true},
		{"'a' + 'b'\n", "\"ab\"\n", true},
		{"None\n", "", true},
		{"def f(n):\n    return n * 2\n\n", "", true},
		{"f(21)\n", "42\n", true},
		{"for i in range(2):\n    x.append(i)\nlen(x)\n", "", true}, // a block and a statement after it: both run
		{"len(x)\n", "4\n", true},
		{"1 // 0\n", "<stdin>:1:3: floored division by zero\nTraceback (most recent call last):\n  <stdin>:1:3: in <expr>\n", false},
		{"lenn(x)\n", "<stdin>:1:1: undefined: lenn (did you mean len?)\n", false},
		{"load(\"@stdlib//assert.star\", \"assert_eq\")\n", "", true},
		{"assert_eq(1, 1)\n", "", true}, // a name loaded at the prompt stays
		{"x +\n", "<stdin>:1:4: got newline, want primary expression\n", false},
	} {
		out, ok := eval(t, s, tc.src)
		if out != tc.want || ok != tc.ok {
			t.Errorf("%q: got %q, %v; want %q, %v", tc.src, out, ok, tc.want, tc.ok)
		}
	}
}

// TestEvalCancel cancels a statement that blocks: the error is one line,
// and the session goes on.
func TestEvalCancel(t *testing.T) {
	s := newSession(t, "")
	ctx, cancel := context.WithCancelCause(t.Context())
	time.AfterFunc(200*time.Millisecond, func() { cancel(errInterrupted) })
	var term fakeTerminal
	start := time.Now()
	ok, err := s.Eval(ctx, "sleep(600)\n", &term)
	if err != nil || ok || time.Since(start) > 20*time.Second {
		t.Fatalf("got %v, %v after %s", ok, err, time.Since(start))
	}
	if want := "<stdin>:1:6: sleep: interrupted (Ctrl-C)\n"; term.String() != want {
		t.Errorf("got %q, want %q", term.String(), want)
	}
	if out, ok := eval(t, s, "1\n"); out != "1\n" || !ok {
		t.Errorf("after the cancel: %q", out)
	}
}

// TestTestScript runs a file again on the prompt's globals: its
// declarations return the machines already declared, its loads resolve
// from the file's directory, and functions see the globals it sets.
func TestTestScript(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("lib.star", "def double(x):\n    return 2 * x\n")
	file := write("t.star", `load("./lib.star", "double")
m = machine("m")
n = 1
def step():
    global_list.append(double(n))
global_list = []
sleep(0)
n = 2
step()
`)
	s := newSession(t, file)
	if out, _ := eval(t, s, "double(4)\n"); out != "8\n" {
		t.Fatalf("the file's load is not at the prompt: %q", out)
	}
	if out, _ := eval(t, s, "global_list\n"); out != "[4]\n" {
		t.Fatalf("the file did not run: %q", out)
	}
	if out, ok := eval(t, s, "old = m\ntest_script()\n"); !ok {
		t.Fatalf("test_script: %q", out)
	}
	if out, _ := eval(t, s, "global_list, old == m\n"); out != "([4], True)\n" {
		t.Errorf("after test_script: %q", out)
	}
	write("t.star", "machine(\"other\")\n")
	if out, ok := eval(t, s, "test_script()\n"); ok || !strings.Contains(out, `machine: "other" was not declared when the network was made`) {
		t.Errorf("a machine added to the file: %q", out)
	}
}

func TestComplete(t *testing.T) {
	s := newSession(t, "")
	eval(t, s, "server = machine('server')\nservers = 1\n")
	for _, tc := range []struct {
		line string
		want []string
		n    int
	}{
		{"serv", []string{"er", "ers"}, 4},
		{"server.wait_for_f", []string{"ile("}, len("wait_for_f")},
		{"x = server.na", []string{"me"}, 2},
		{"start_", []string{"all("}, 6},
		{"test_s", []string{"cript("}, 6},
		{"whi", []string{"le"}, 3},
		{"nosuch.x", nil, 0},
		{"1.", nil, 0},
	} {
		rest, n := s.Complete(tc.line, len([]rune(tc.line)))
		if strings.Join(rest, ",") != strings.Join(tc.want, ",") || n != tc.n {
			t.Errorf("%q: got %q, %d; want %q, %d", tc.line, rest, n, tc.want, tc.n)
		}
	}
}

func TestReadChunk(t *testing.T) {
	for _, tc := range []struct {
		lines   []string
		want    string
		prompts string
		err     error
	}{
		{[]string{"x = 1"}, "x = 1\n", ">>> ", nil},
		{[]string{"x = [1,", "2]", "unread"}, "x = [1,\n2]\n", ">>> ... ", nil},
		{[]string{"def f():", "    pass", "", "unread"}, "def f():\n    pass\n\n", ">>> ... ... ", nil},
		{[]string{"if 1:", "  pass"}, "if 1:\n  pass\n", ">>> ... ... ", nil}, // ended by end of input
		{nil, "", ">>> ", io.EOF},
	} {
		i := 0
		var prompts strings.Builder
		src, err := ReadChunk(func(p string) (string, error) {
			prompts.WriteString(p)
			if i == len(tc.lines) {
				return "", io.EOF
			}
			i++
			return tc.lines[i-1], nil
		})
		if src != tc.want || prompts.String() != tc.prompts || !errors.Is(err, tc.err) && err != tc.err {
			t.Errorf("%q: got %q, prompts %q, %v; want %q, %q, %v", tc.lines, src, prompts.String(), err, tc.want, tc.prompts, tc.err)
		}
	}
}

func TestHistoryFile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	if got, want := HistoryFile(), filepath.Join(dir, "vmtest", "history"); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	t.Setenv("XDG_STATE_HOME", "relative")
	t.Setenv("HOME", dir)
	if got, want := HistoryFile(), filepath.Join(dir, ".local", "state", "vmtest", "history"); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
