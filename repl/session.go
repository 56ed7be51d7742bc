package repl

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/vmtest/vmtest/builtins"
	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/runtime"
)

// Terminal is where the output of a statement goes, and the terminal
// that interactive builtins (m.shell()) borrow in raw mode.
type Terminal interface {
	io.Writer
	builtins.Terminal
}

// Backend evaluates what the user types: a Session, or the client of a
// Session in another process (repl/control).
type Backend interface {
	// Eval evaluates one chunk (see ReadChunk), writing its output, the
	// value of an expression and any error report to term. It reports
	// whether the chunk ran without error; err is a failure to reach the
	// Session. Cancelling ctx cancels the statement, not the network.
	Eval(ctx context.Context, src string, term Terminal) (ok bool, err error)
	// Complete returns the completions of the word before pos (in runes)
	// in line, as readline wants them: the rest of each candidate after
	// the length runes already typed.
	Complete(line string, pos int) (rest []string, length int)
}

// Config configures a Session.
type Config struct {
	// Loader runs the chunks: its load(), print() and thread setup.
	Loader *lang.Loader
	// Globals are the names at the prompt: the builtins, and the globals
	// of the test file. The Session adds the Loader's Predeclared,
	// test_script and _.
	Globals starlark.StringDict
	// File is the test file: ExecFile runs it, test_script() its script;
	// "" for none.
	File string
	// Output is the terminal side of the network's log; a Session points
	// it at the terminal of the statement it evaluates. nil: none.
	Output *Output
}

// Session is the state of a prompt on a network: its globals. It
// evaluates one chunk at a time (concurrent Evals wait their turn) and is
// safe for concurrent use.
type Session struct {
	cfg  Config
	opts *syntax.FileOptions

	mu      sync.Mutex // held by Eval
	globals starlark.StringDict
	term    Terminal // of the Eval running
}

var _ Backend = (*Session)(nil)

// NewSession returns a Session on cfg's globals.
func NewSession(cfg Config) *Session {
	opts := lang.Options()
	opts.LoadBindsGlobally = true // a name loaded at the prompt stays for the next chunk
	s := &Session{cfg: cfg, opts: opts, globals: starlark.StringDict{}}
	for k, v := range cfg.Loader.Predeclared() { // with the built-ins its limits bound
		s.globals[k] = v
	}
	for k, v := range cfg.Globals {
		s.globals[k] = v
	}
	s.globals["test_script"] = starlark.NewBuiltin("test_script", s.testScript)
	return s
}

// ExecFile runs the test file's top-level statements at the prompt, as
// if typed there, with their output to term: its globals, and the names
// it loads, become the prompt's (and, unlike those of a module, stay
// mutable). It stops at the first error, which it returns without
// printing it: with a network in declaration-only mode, that is the first
// action (runtime.ErrDeclareOnly). Loads resolve as in the file.
func (s *Session) ExecFile(ctx context.Context, term Terminal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.parseFile()
	if err != nil {
		return err
	}
	return s.execInFile(ctx, f, term)
}

// BindLoads runs the top-level load() statements of the test file, so
// that the names it loads are at the prompt: for a prompt opened on the
// globals of a file that ran as a module (vmtest run -i).
func (s *Session) BindLoads(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.parseFile()
	if err != nil {
		return err
	}
	var loads []syntax.Stmt
	for _, stmt := range f.Stmts {
		if l, ok := stmt.(*syntax.LoadStmt); ok {
			loads = append(loads, l)
		}
	}
	f.Stmts = loads
	return s.execInFile(ctx, f, Plain{io.Discard})
}

// execInFile runs statements of the test file on a new thread, loads
// resolved as in the file. Called with s.mu held.
func (s *Session) execInFile(ctx context.Context, f *syntax.File, term Terminal) error {
	if len(f.Stmts) == 0 {
		return nil
	}
	if s.cfg.Output != nil {
		defer s.cfg.Output.use(term)()
	}
	s.term = term
	defer func() { s.term = nil }()
	thread, release := s.cfg.Loader.NewThread(ctx, "repl")
	defer release()
	builtins.SetTerminal(thread, term)
	restore, err := lang.InFile(thread, s.cfg.File)
	if err != nil {
		return err
	}
	defer restore()
	return s.cfg.Loader.Hint(starlark.ExecREPLChunk(f, thread, s.globals))
}

// Eval implements Backend.
func (s *Session) Eval(ctx context.Context, src string, term Terminal) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Output != nil {
		defer s.cfg.Output.use(term)()
	}
	s.term = term
	defer func() { s.term = nil }()
	thread, release := s.cfg.Loader.NewThread(ctx, "repl")
	defer release()
	builtins.SetTerminal(thread, term)
	err := s.eval(thread, src)
	if err == nil {
		return true, nil
	}
	if ctx.Err() != nil {
		// Cancelled: the one line says where and why; the console tail
		// of a report would only repeat what the user just saw.
		head, _, _ := strings.Cut(lang.FormatError(err), "\n")
		fmt.Fprintln(term, head)
	} else {
		io.WriteString(term, runtime.Report(err))
	}
	return false, nil
}

// eval runs one chunk on thread: the value of a sole expression is
// printed and kept as _.
func (s *Session) eval(thread *starlark.Thread, src string) error {
	f, err := s.opts.Parse("<stdin>", src, 0)
	if err != nil {
		return err
	}
	if len(f.Stmts) == 0 {
		return nil
	}
	if stmt, ok := f.Stmts[0].(*syntax.ExprStmt); ok && len(f.Stmts) == 1 {
		v, err := starlark.EvalExprOptions(f.Options, thread, stmt.X, s.globals)
		if err != nil {
			return s.cfg.Loader.Hint(err)
		}
		s.globals["_"] = v
		if v != starlark.None {
			fmt.Fprintln(s.term, v)
		}
		return nil
	}
	return s.cfg.Loader.Hint(starlark.ExecREPLChunk(f, thread, s.globals))
}

// parseFile parses the test file as it is now, for the prompt's options.
func (s *Session) parseFile() (*syntax.File, error) {
	data, err := os.ReadFile(s.cfg.File)
	if err != nil {
		return nil, err
	}
	return s.opts.Parse(s.cfg.File, data, 0)
}
