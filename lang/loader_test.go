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
	"testing/fstest"
	"time"

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

// TestLoadWaiterOutlivesCancelledRunner: when the thread executing a
// module is cancelled, a thread waiting for the same module (with a live
// context) executes it itself instead of sharing the cancellation.
func TestLoadWaiterOutlivesCancelledRunner(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"slow.star": `block(); print("slow done"); x = 1`,
	})
	started := make(chan struct{})
	var calls sync.Mutex
	n := 0
	block := starlark.NewBuiltin("block", func(thread *starlark.Thread, _ *starlark.Builtin, _ starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
		calls.Lock()
		n++
		first := n == 1
		calls.Unlock()
		if first { // the first runner blocks until its context is done
			close(started)
			ctx := lang.Context(thread)
			<-ctx.Done()
			return nil, context.Cause(ctx)
		}
		return starlark.None, nil
	})
	var p printer
	l := lang.New(lang.Config{Predeclared: starlark.StringDict{"block": block}, Print: p.print})
	slow := filepath.Join(dir, "slow.star")

	ctxA, cancelA := context.WithCancel(t.Context())
	errA := make(chan error, 1)
	go func() {
		thread, release := l.NewThread(ctxA, "A")
		defer release()
		_, err := l.Load(thread, slow)
		errA <- err
	}()
	<-started
	errB := make(chan error, 1)
	go func() {
		thread, release := l.NewThread(t.Context(), "B")
		defer release()
		_, err := l.Load(thread, slow)
		errB <- err
	}()
	time.Sleep(50 * time.Millisecond) // B is most likely waiting for A now; either way B must succeed
	cancelA()
	if err := <-errA; !errors.Is(err, context.Canceled) {
		t.Errorf("A: got %v, want context.Canceled", err)
	}
	if err := <-errB; err != nil {
		t.Errorf("B: %s", lang.FormatError(err))
	}
	if got := p.got(); !slices.Equal(got, []string{"slow done"}) {
		t.Errorf("printed %q", got)
	}
}

func TestLoadStdlibRelativeAndAbsolute(t *testing.T) {
	dir := writeFiles(t, map[string]string{"abs.star": `abs = "abs"`})
	stdlib := fstest.MapFS{
		"a.star":     {Data: []byte(`load("b.star", "b"); load("./sub/../b.star", b2 = "b"); a = b + b2`)},
		"b.star":     {Data: []byte(`b = "b"`)},
		"sub/c.star": {Data: []byte(`load("../a.star", "a"); c = a`)},
	}
	l := lang.New(lang.Config{Stdlib: stdlib})
	src := `load("@stdlib//sub/c.star", "c")
load("` + filepath.Join(dir, "abs.star") + `", "abs")
result = c + abs
`
	globals, err := l.Exec(t.Context(), filepath.Join(dir, "main.star"), src)
	if err != nil {
		t.Fatal(lang.FormatError(err))
	}
	if got := globals["result"]; got != starlark.String("bbabs") {
		t.Errorf("result = %v", got)
	}
}

func TestLoadNoStdlib(t *testing.T) {
	_, err := lang.New(lang.Config{}).Exec(t.Context(), "t.star", `load("@stdlib//x.star", "x")`)
	if err == nil || !strings.Contains(err.Error(), "@stdlib//x.star: no @stdlib is configured") {
		t.Errorf("got %v", err)
	}
}

// TestLoadWaiterCancelled: a thread waiting for a module that another
// thread is executing stops waiting when its own context is done.
func TestLoadWaiterCancelled(t *testing.T) {
	dir := writeFiles(t, map[string]string{"slow.star": `block(); x = 1`})
	started := make(chan struct{})
	block := starlark.NewBuiltin("block", func(thread *starlark.Thread, _ *starlark.Builtin, _ starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
		close(started)
		<-lang.Context(thread).Done()
		return starlark.None, nil
	})
	l := lang.New(lang.Config{Predeclared: starlark.StringDict{"block": block}})
	slow := filepath.Join(dir, "slow.star")
	ctxA, cancelA := context.WithCancel(t.Context())
	defer cancelA()
	go func() {
		thread, release := l.NewThread(ctxA, "A")
		defer release()
		l.Load(thread, slow)
	}()
	<-started
	ctxB, cancelB := context.WithCancel(t.Context())
	cancelB()
	thread, release := l.NewThread(ctxB, "B")
	defer release()
	_, err := l.Load(thread, slow)
	if err == nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "gave up waiting for "+slow) {
		t.Errorf("got %v", err)
	}
}

// TestNarrowKeepsTheLocals: Narrow gives the thread's blocking builtins a
// narrower context without changing the thread's locals, which
// go.starlark.net forbids once the thread runs.
func TestNarrowKeepsTheLocals(t *testing.T) {
	thread := &starlark.Thread{Name: "narrow"}
	stop := lang.BindContext(thread, context.Background())
	defer stop()
	local := thread.Local(lang.ContextKey)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	restore := lang.Narrow(thread, ctx)
	if _, ok := lang.Context(thread).Deadline(); !ok {
		t.Error("inside Narrow, the thread's context has no deadline")
	}
	if thread.Local(lang.ContextKey) != local {
		t.Error("Narrow changed the thread's locals")
	}
	restore()
	if _, ok := lang.Context(thread).Deadline(); ok {
		t.Error("after restore, the thread's context still has the deadline")
	}
}
