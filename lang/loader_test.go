package lang_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/lang"
)

// writeFiles creates files (name -> content) in a new temporary directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// printer collects print() output; safe for concurrent use.
type printer struct {
	mu    sync.Mutex
	lines []string
}

func (p *printer) print(_ *starlark.Thread, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, msg)
}

func (p *printer) got() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.lines)
}

func TestLoadOnce(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"main.star":       `load("a.star", "a"); load("lib/b.star", "b"); print("main", a, b)`,
		"a.star":          `load("lib/c.star", "c"); a = c + 1`,
		"lib/b.star":      `load("c.star", "c"); b = c + 2`,
		"lib/c.star":      `print("c loaded"); c = 10`,
		"lib/unused.star": `fail("never loaded")`,
	})
	var p printer
	l := lang.New(lang.Config{Print: p.print})
	if _, err := l.ExecFile(t.Context(), filepath.Join(dir, "main.star")); err != nil {
		t.Fatal(lang.FormatError(err))
	}
	want := []string{"c loaded", "main 11 12"}
	if got := p.got(); !slices.Equal(got, want) {
		t.Errorf("printed %q, want %q", got, want)
	}
}

// TestLoadParallel loads b and c on two goroutines; both load a, which
// must run once (after starlark's ExampleThread_Load_parallel).
func TestLoadParallel(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.star": `print("a loaded"); a = 1`,
		"b.star": `load("a.star", "a"); b = a * 3`,
		"c.star": `load("a.star", "a"); c = a * 2`,
	})
	var p printer
	l := lang.New(lang.Config{Print: p.print})
	var wg sync.WaitGroup
	results := make([]starlark.Value, 2)
	for i, name := range []string{"b", "c"} {
		wg.Go(func() {
			thread, release := l.NewThread(t.Context(), name)
			defer release()
			globals, err := l.Load(thread, filepath.Join(dir, name+".star"))
			if err != nil {
				t.Error(lang.FormatError(err))
				return
			}
			results[i] = globals[name]
		})
	}
	wg.Wait()
	if got := p.got(); !slices.Equal(got, []string{"a loaded"}) {
		t.Errorf("printed %q, want a single %q", got, "a loaded")
	}
	if results[0] != starlark.MakeInt(3) || results[1] != starlark.MakeInt(2) {
		t.Errorf("b, c = %v, want 3, 2", results)
	}
}

// TestLoadParallelCycle: a cycle that spans two goroutines is an error on
// both, not a deadlock.
func TestLoadParallelCycle(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.star": `load("c.star", "c"); a = c * 5`,
		"b.star": `load("a.star", "a"); b = a * 3`,
		"c.star": `load("b.star", "b"); c = b * 2`,
	})
	l := lang.New(lang.Config{})
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, name := range []string{"b", "c"} {
		wg.Go(func() {
			thread, release := l.NewThread(t.Context(), name)
			defer release()
			_, errs[i] = l.Load(thread, filepath.Join(dir, name+".star"))
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "load cycle: ") {
			t.Errorf("got %v, want a load cycle", err)
		}
	}
}

// spinner returns builtins for a script that cancels its own context and
// then loops: spin() cancels via cancel (on the first call only) and
// reports whether it did; ctx_ok() reports whether lang.Context(thread)
// is the context given to Exec.
func spinner(cancel *context.CancelCauseFunc, want *context.Context) starlark.StringDict {
	var once sync.Once
	return starlark.StringDict{
		"spin": starlark.NewBuiltin("spin", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
			did := false
			once.Do(func() {
				(*cancel)(errors.New("test timeout (600s) exceeded"))
				did = true
			})
			return starlark.Bool(did), nil
		}),
		"ctx_ok": starlark.NewBuiltin("ctx_ok", func(thread *starlark.Thread, _ *starlark.Builtin, _ starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
			return starlark.Bool(lang.Context(thread) == *want), nil
		}),
	}
}

func TestCancel(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"main.star": "load(\"spin.star\", \"x\")\nprint(\"main done\")\n",
		"spin.star": "print(\"spin loaded\")\n" +
			"if not ctx_ok():\n    fail(\"lang.Context is not the Exec context\")\n" +
			"if spin():\n    while True:\n        pass\n" +
			"x = 1\n",
	})
	var cancel context.CancelCauseFunc
	var ctx context.Context
	var p printer
	l := lang.New(lang.Config{Predeclared: spinner(&cancel, &ctx), Print: p.print})
	main := filepath.Join(dir, "main.star")

	ctx, cancel = context.WithCancelCause(t.Context())
	_, err := l.ExecFile(ctx, main)
	if err == nil {
		t.Fatal("the infinite loop was not stopped")
	}
	// Where the interpreter notices depends on timing: anywhere from just
	// after spin() returns (line 4) to inside the loop.
	first := regexp.MustCompile("^" + regexp.QuoteMeta(filepath.Join(dir, "spin.star")) +
		`:[4-6]:\d+: Starlark computation cancelled: test timeout \(600s\) exceeded$`)
	msg := lang.FormatError(err)
	if line, _, _ := strings.Cut(msg, "\n"); !first.MatchString(line) {
		t.Errorf("first line %q, want match for %s", line, first)
	}
	if !first.MatchString(err.Error()) {
		t.Errorf("Error() = %q, want match for %s", err.Error(), first)
	}

	// Cancelled modules are not cached: a new run executes them again.
	ctx, cancel = context.WithCancelCause(t.Context())
	defer cancel(nil)
	if _, err := l.ExecFile(ctx, main); err != nil {
		t.Fatal(lang.FormatError(err))
	}
	want := []string{"spin loaded", "spin loaded", "main done"}
	if got := p.got(); !slices.Equal(got, want) {
		t.Errorf("printed %q, want %q", got, want)
	}
}

func TestCancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	l := lang.New(lang.Config{})
	_, err := l.Exec(ctx, "x.star", "x = 1")
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestContextDefault(t *testing.T) {
	if lang.Context(new(starlark.Thread)) != context.Background() {
		t.Error("Context of a bare thread is not context.Background()")
	}
}

func TestLibPath(t *testing.T) {
	got := lang.LibPath([]string{"a", "b"}, "c::/d:")
	if want := []string{"a", "b", "c", "/d"}; !slices.Equal(got, want) {
		t.Errorf("LibPath = %q, want %q", got, want)
	}
}

func TestOptions(t *testing.T) {
	o := lang.Options()
	if !o.Set || !o.While || !o.TopLevelControl || !o.GlobalReassign || !o.Recursion || o.LoadBindsGlobally {
		t.Errorf("Options() = %+v", *o)
	}
	o.Set = false
	if !lang.Options().Set {
		t.Error("Options shares its result between calls")
	}
}

// TestMissingLibraryDirs: the error names every directory tried, in order.
func TestMissingLibraryDirs(t *testing.T) {
	dir := writeFiles(t, map[string]string{"main.star": `load("mylib/x.star", "x")`})
	l := lang.New(lang.Config{LibPath: []string{"/nonexistent/one", "/nonexistent/two"}})
	_, err := l.ExecFile(t.Context(), filepath.Join(dir, "main.star"))
	if err == nil {
		t.Fatal("no error")
	}
	want := dir + "/main.star:1:1: cannot load mylib/x.star: mylib/x.star not found (looked in " + dir +
		", /nonexistent/one, /nonexistent/two; add a library directory with -L DIR or VMTEST_PATH=DIR1:DIR2)"
	if got := lang.FormatError(err); !strings.HasPrefix(got, want+"\n") {
		t.Errorf("got\n%s\nwant first line\n%s", got, want)
	}
}
