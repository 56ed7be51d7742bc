package lang

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Thread-local keys. ContextKey is exported so that code creating its own
// threads can cooperate; prefer BindContext and Context.
const (
	// ContextKey is the starlark.Thread local under which the thread's
	// context holder is stored (see BindContext, Context, Narrow).
	ContextKey = "github.com/vmtest/vmtest/lang.context"

	moduleKey  = "github.com/vmtest/vmtest/lang.module"  // *location being executed
	loadingKey = "github.com/vmtest/vmtest/lang.loading" // *loadThread
)

// Config configures a Loader. The zero value is usable: no predeclared
// names beyond the Starlark universe, no library path, no @stdlib.
type Config struct {
	// Predeclared are the names every module sees besides the Starlark
	// universe (len, set, fail, ...): the vmtest builtins.
	Predeclared starlark.StringDict
	// LibPath lists the directories searched, in order, for a bare
	// relative load() path not found next to the loading file. See
	// LibPath for building it from -L flags and $VMTEST_PATH.
	LibPath []string
	// Stdlib holds the files loaded as "@stdlib//name.star"; nil means
	// no standard library.
	Stdlib fs.FS
	// Print handles the print() built-in; nil means Starlark's default
	// (standard error).
	Print func(thread *starlark.Thread, msg string)
	// Setup, if not nil, is called for every thread the Loader creates
	// (one per module executed, and NewThread), before it runs any
	// code; use it to SetLocal values the builtins need.
	Setup func(thread *starlark.Thread)
	// Limits bound the computation of every thread the Loader creates,
	// together; the zero value bounds nothing. See Limits.
	Limits Limits
}

// A Loader executes a main file and the modules it loads, in the vmtest
// dialect. It is safe for concurrent use; each module is executed at most
// once per Loader (see the package documentation for resolution rules).
type Loader struct {
	cfg    Config
	opts   *syntax.FileOptions
	budget *budget // nil without limits

	mu    sync.Mutex
	cache map[string]*entry // by location.key
}

// New returns a Loader for cfg. The Loader keeps its own copy of
// cfg.LibPath; the Predeclared dict must not be modified afterwards.
//
// With limits, the Loader predeclares its own range, list, tuple,
// sorted, reversed, enumerate, zip and bytes (see Limits), unless
// cfg.Predeclared has those names.
func New(cfg Config) *Loader {
	cfg.LibPath = slices.Clone(cfg.LibPath)
	l := &Loader{cfg: cfg, opts: Options(), budget: newBudget(cfg.Limits), cache: make(map[string]*entry)}
	if l.budget != nil {
		pre := l.budget.bounded()
		for name, v := range cfg.Predeclared {
			pre[name] = v
		}
		l.cfg.Predeclared = pre
	}
	return l
}

// Predeclared returns the names every module of the Loader sees besides
// the Starlark universe: Config.Predeclared, and the built-ins that
// count against its limits. A REPL that runs chunks itself predeclares
// them. The result must not be modified.
func (l *Loader) Predeclared() starlark.StringDict { return l.cfg.Predeclared }

// LibPath returns the library search path: the directories given with
// -L flags (flagDirs, in order), then the non-empty elements of env (the
// value of $VMTEST_PATH), split on ':'.
func LibPath(flagDirs []string, env string) []string {
	dirs := slices.Clone(flagDirs)
	for _, d := range strings.Split(env, ":") {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// ExecFile executes the file at path as the main module and returns its
// globals. It is Exec(ctx, path, nil).
func (l *Loader) ExecFile(ctx context.Context, path string) (starlark.StringDict, error) {
	return l.Exec(ctx, path, nil)
}

// Exec executes a main module named filename, with source src (as for
// starlark.ExecFile: string, []byte or io.Reader; nil reads filename),
// and returns its globals. The module is cached under filename like any
// loaded module, so a library loading it back forms a cycle, and a
// second Exec of the same filename returns the first result.
//
// Cancelling ctx stops execution promptly, with an error saying
// "Starlark computation cancelled: " and the context's cause.
//
// A non-nil error's Error() is one line, "file:line:col: message";
// FormatError gives the full report with the traceback.
func (l *Loader) Exec(ctx context.Context, filename string, src any) (starlark.StringDict, error) {
	loc, err := fileLocation(filename)
	if err != nil {
		return nil, err
	}
	return l.get(ctx, new(loadThread), loc, src)
}

// Load implements starlark.Thread.Load for threads that run code of this
// Loader. Relative paths resolve against the module the thread is
// executing, or the current directory for a thread from NewThread.
func (l *Loader) Load(thread *starlark.Thread, module string) (starlark.StringDict, error) {
	from, _ := thread.Local(moduleKey).(*location)
	lt, _ := thread.Local(loadingKey).(*loadThread)
	if lt == nil {
		lt = new(loadThread)
	}
	loc, err := l.resolve(from, module)
	if err != nil {
		return nil, err
	}
	return l.get(Context(thread), lt, loc, nil)
}

// NewThread returns a thread for running code outside a module (a REPL
// chunk, a callable run on another goroutine), wired to this Loader:
// load(), print(), Config.Setup, and cancellation by ctx. The caller must
// call release when done with the thread.
func (l *Loader) NewThread(ctx context.Context, name string) (thread *starlark.Thread, release func()) {
	thread = &starlark.Thread{Name: name, Print: l.cfg.Print, Load: l.Load}
	if l.cfg.Setup != nil {
		l.cfg.Setup(thread)
	}
	done := l.budget.start(thread)
	stop := BindContext(thread, ctx)
	return thread, func() { stop(); done() }
}

// threadContext holds a thread's context. BindContext sets it as a local
// before the thread runs; Narrow changes what it holds while the thread
// runs, which go.starlark.net allows for a local's value but not for the
// locals themselves (SetLocal).
type threadContext struct {
	ctx atomic.Pointer[context.Context]
}

// BindContext stores ctx in thread (see Context) and arranges for
// thread.Cancel to be called with the context's cause when ctx is done.
// Call it before the thread starts executing; call stop when the thread
// is finished, to release the context's hook.
func BindContext(thread *starlark.Thread, ctx context.Context) (stop func()) {
	tc := &threadContext{}
	tc.ctx.Store(&ctx)
	thread.SetLocal(ContextKey, tc)
	if ctx.Done() == nil {
		return func() {}
	}
	unhook := context.AfterFunc(ctx, func() {
		thread.Cancel(context.Cause(ctx).Error())
	})
	return func() { unhook() }
}

// Context returns the context stored in thread by BindContext (or, inside
// Narrow, the narrower one), or context.Background() if there is none.
// Builtins that block (waiting for a machine, sleeping) must give up when
// it is done.
func Context(thread *starlark.Thread) context.Context {
	if tc, ok := thread.Local(ContextKey).(*threadContext); ok {
		return *tc.ctx.Load()
	}
	return context.Background()
}

// Narrow makes ctx, which should derive from Context(thread), the
// thread's context for the builtins that block, until restore is called:
// so a builtin bounds what runs inside it (retry's deadline). Call it, and
// restore, on the goroutine running thread. On a thread without
// BindContext it does nothing.
func Narrow(thread *starlark.Thread, ctx context.Context) (restore func()) {
	tc, ok := thread.Local(ContextKey).(*threadContext)
	if !ok {
		return func() {}
	}
	outer := tc.ctx.Swap(&ctx)
	return func() { tc.ctx.Store(outer) }
}

// A location identifies one module.
type location struct {
	key    string // cache key: "@stdlib//p" or an absolute, clean OS path
	name   string // shown to users and in positions: "@stdlib//p" or the path as joined
	stdlib bool
	fspath string // path within Config.Stdlib when stdlib
}

func fileLocation(name string) (*location, error) {
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, err
	}
	return &location{key: abs, name: filepath.Clean(name)}, nil
}

const stdlibPrefix = "@stdlib//"

// resolve finds the module named in a load statement of from (nil: a
// thread outside any module).
func (l *Loader) resolve(from *location, module string) (*location, error) {
	if strings.HasPrefix(module, "@") {
		repo, p, ok := strings.Cut(module[1:], "//")
		if !ok {
			return nil, fmt.Errorf("invalid module name %q: want %sname.star", module, stdlibPrefix)
		}
		if repo != "stdlib" {
			return nil, fmt.Errorf("unknown repository @%s (only @stdlib is known)", repo)
		}
		return l.stdlibLocation(p)
	}
	if from != nil && from.stdlib && !filepath.IsAbs(module) {
		return l.stdlibLocation(path.Join(path.Dir(from.fspath), module))
	}
	if filepath.IsAbs(module) {
		if err := isFile(module); err != nil {
			return nil, err
		}
		return fileLocation(module)
	}

	base := "."
	if from != nil {
		base = filepath.Dir(from.name)
	}
	cand := filepath.Join(base, module)
	err := isFile(cand)
	if err == nil {
		return fileLocation(cand)
	}
	explicit := strings.HasPrefix(module, "./") || strings.HasPrefix(module, "../")
	if explicit || !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	tried := []string{base}
	for _, dir := range l.cfg.LibPath {
		cand := filepath.Join(dir, module)
		err := isFile(cand)
		if err == nil {
			return fileLocation(cand)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		tried = append(tried, dir)
	}
	return nil, fmt.Errorf("%s not found (looked in %s; add a library directory with -L DIR or VMTEST_PATH=DIR1:DIR2)",
		module, strings.Join(tried, ", "))
}

// isFile returns nil if name is an existing file; an error wrapping
// fs.ErrNotExist if it does not exist (or is a directory).
func isFile(name string) error {
	fi, err := os.Stat(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return notExist("no such file: " + name)
		}
		return err
	}
	if fi.IsDir() {
		return notExist(name + " is a directory, not a module")
	}
	return nil
}

// notExist is an error message that matches fs.ErrNotExist.
type notExist string

func (e notExist) Error() string        { return string(e) }
func (e notExist) Is(target error) bool { return target == fs.ErrNotExist }

func (l *Loader) stdlibLocation(p string) (*location, error) {
	if l.cfg.Stdlib == nil {
		return nil, fmt.Errorf("%s%s: no @stdlib is configured", stdlibPrefix, p)
	}
	p = path.Clean(p)
	if !fs.ValidPath(p) {
		return nil, fmt.Errorf("invalid module name %s%s", stdlibPrefix, p)
	}
	if fi, err := fs.Stat(l.cfg.Stdlib, p); err != nil || fi.IsDir() {
		have, _ := fs.Glob(l.cfg.Stdlib, "*.star")
		msg := fmt.Sprintf("no module %s%s", stdlibPrefix, p)
		if s := Suggest(p, have); s != "" {
			return nil, fmt.Errorf("%s (did you mean %s%s?)", msg, stdlibPrefix, s)
		}
		return nil, fmt.Errorf("%s (@stdlib has %s)", msg, strings.Join(have, ", "))
	}
	name := stdlibPrefix + p
	return &location{key: name, name: name, stdlib: true, fspath: p}, nil
}

// An entry is one module in the cache: a future for its globals.
// owner is guarded by Loader.mu; globals and err are written once before
// ready is closed.
type entry struct {
	name    string
	owner   *loadThread // the loading thread executing it; nil once done
	globals starlark.StringDict
	err     error
	ready   chan struct{}
	// cancelled: its execution was stopped by its runner's context, and
	// the entry has left the cache. Guarded by Loader.mu.
	cancelled bool
}

// A loadThread is one logical thread of loading: the main Exec, or one
// Load call from a thread outside any module, and all the nested loads it
// performs. Its fields are guarded by Loader.mu. Together with
// entry.owner it forms the waits-for graph used to detect cycles, also
// across goroutines (after starlark's ExampleThread_Load_parallel).
type loadThread struct {
	stack    []*entry // modules being executed, outermost first
	waitsFor *entry   // the entry it is blocked on, if any
}

// get returns the module at loc, executing it (with source src, or read
// from loc if nil) unless it is cached or being executed by another
// thread, in which case it waits for that result, or runs it itself if
// that thread was cancelled and ctx was not.
func (l *Loader) get(ctx context.Context, lt *loadThread, loc *location, src any) (starlark.StringDict, error) {
	l.mu.Lock()
	for {
		e := l.cache[loc.key]
		if e == nil {
			break
		}
		select {
		case <-e.ready:
			l.mu.Unlock()
			return e.globals, e.err
		default:
		}
		if chain := cycle(e, lt, len(l.cache)); chain != nil {
			l.mu.Unlock()
			return nil, fmt.Errorf("load cycle: %s", strings.Join(chain, " -> "))
		}
		lt.waitsFor = e
		l.mu.Unlock()

		select {
		case <-e.ready:
		case <-ctx.Done():
		}

		l.mu.Lock()
		lt.waitsFor = nil
		select {
		case <-e.ready:
			if e.cancelled && ctx.Err() == nil {
				continue // its runner was cancelled, not us: run it ourselves
			}
			l.mu.Unlock()
			return e.globals, e.err
		default:
			l.mu.Unlock()
			return nil, fmt.Errorf("gave up waiting for %s: %w", e.name, context.Cause(ctx))
		}
	}

	e := &entry{name: loc.name, owner: lt, ready: make(chan struct{})}
	l.cache[loc.key] = e
	lt.stack = append(lt.stack, e)
	l.mu.Unlock()

	globals, err := l.exec(ctx, lt, loc, src)

	l.mu.Lock()
	e.owner = nil
	lt.stack = lt.stack[:len(lt.stack)-1]
	e.globals, e.err = globals, err
	if err != nil && ctx.Err() != nil {
		e.cancelled = true
		delete(l.cache, loc.key) // let a later load try again
	}
	l.mu.Unlock()
	close(e.ready)
	return globals, err
}

// cycle reports the chain of module names by which waiting for e would
// make me wait for itself, or nil if it would not. Called with Loader.mu
// held; limit bounds the walk.
func cycle(e *entry, me *loadThread, limit int) []string {
	var chain []string
	for cur := e; limit >= 0; limit-- {
		owner := cur.owner
		if owner == nil {
			return nil
		}
		i := slices.Index(owner.stack, cur)
		if i < 0 {
			return nil
		}
		for _, s := range owner.stack[i:] {
			chain = append(chain, s.name)
		}
		if owner == me {
			return append(chain, e.name)
		}
		if cur = owner.waitsFor; cur == nil {
			return nil
		}
	}
	return nil
}

// exec runs one module on a new thread.
func (l *Loader) exec(ctx context.Context, lt *loadThread, loc *location, src any) (starlark.StringDict, error) {
	data, err := l.source(loc, src)
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s not executed: %w", loc.name, context.Cause(ctx))
	}
	thread := &starlark.Thread{Name: "load " + loc.name, Print: l.cfg.Print, Load: l.Load}
	thread.SetLocal(moduleKey, loc)
	thread.SetLocal(loadingKey, lt)
	if l.cfg.Setup != nil {
		l.cfg.Setup(thread)
	}
	defer l.budget.start(thread)()
	stop := BindContext(thread, ctx)
	defer stop()
	globals, err := starlark.ExecFileOptions(l.opts, thread, loc.name, data, l.cfg.Predeclared)
	if err != nil {
		return globals, &located{l.Hint(explainSyntax(err, data))}
	}
	return globals, nil
}

// source returns the text of the module at loc: src (a string, []byte
// or io.Reader, as for starlark.ExecFile), or if nil the file's.
func (l *Loader) source(loc *location, src any) ([]byte, error) {
	switch s := src.(type) {
	case nil:
		if loc.stdlib {
			return fs.ReadFile(l.cfg.Stdlib, loc.fspath)
		}
		return os.ReadFile(loc.key)
	case string:
		return []byte(s), nil
	case []byte:
		return s, nil
	case io.Reader:
		return io.ReadAll(s)
	}
	return nil, fmt.Errorf("invalid source for %s: %T", loc.name, src)
}
