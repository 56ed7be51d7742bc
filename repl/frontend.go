package repl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"

	"github.com/chzyer/readline"
	"go.starlark.net/syntax"

	"github.com/vmtest/vmtest/runtime"
)

// ErrStatementFailed is returned by Run, reading statements that are not
// typed at a terminal, when one of them fails.
var ErrStatementFailed = errors.New("a statement failed")

// errInterrupted is the cause of a statement cancelled with Ctrl-C.
var errInterrupted = errors.New("interrupted (Ctrl-C)")

// Options configure Run.
type Options struct {
	// History is the file of the prompt's history ("" keeps none); see
	// HistoryFile.
	History string
	// Output, if not nil, is the log's terminal side of an in-process
	// network: while Run runs, what the log prints between statements
	// is shown above the prompt.
	Output *Output
}

// Run is the prompt on the user's terminal (standard input and output):
// it reads chunks (see ReadChunk) and evaluates them with b until end of
// input (Ctrl-D) or ctx is done, and returns nil at end of input.
//
// At a terminal it edits lines with readline: history, completion with
// Tab (Backend.Complete), Ctrl-C to drop the line being typed or to
// cancel the statement running (SIGINT, as the terminal is not in raw
// mode then). A statement that fails shows its report, and the prompt
// goes on.
//
// Otherwise (input from a pipe or file) it evaluates the chunks of its
// input in order without prompts, and stops at the first that fails,
// returning ErrStatementFailed.
func Run(ctx context.Context, b Backend, opts Options) error {
	if !isTerminal(os.Stdin) || !isTerminal(os.Stdout) {
		return runScript(ctx, b, os.Stdin, os.Stdout)
	}
	in, err := newInput(int(os.Stdin.Fd()))
	if err != nil {
		return err
	}
	defer in.Close()
	rl, err := readline.NewEx(&readline.Config{
		Prompt:            Prompt,
		HistoryFile:       opts.History,
		HistorySearchFold: true,
		AutoComplete:      completer{b},
		Stdin:             lineReader{in},
	})
	if err != nil {
		return err
	}
	defer rl.Close()
	// Statements write to the terminal directly: readline's stdout would
	// redraw the prompt after a line printed just after Enter.
	term := &localTerminal{w: os.Stdout, in: in, fd: int(os.Stdin.Fd()), out: os.Stdout}
	if opts.Output != nil {
		prev := opts.Output.SetDefault(rl.Stdout())
		defer opts.Output.SetDefault(prev)
	}

	// ctx ending (SIGTERM, say) ends a Readline in progress.
	stopWatch := context.AfterFunc(ctx, func() { rl.Close() })
	defer stopWatch()

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt)
	defer signal.Stop(sigs)
	for {
		src, err := ReadChunk(func(prompt string) (string, error) {
			rl.SetPrompt(prompt)
			return rl.Readline()
		})
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		var serr syntax.Error
		switch {
		case errors.Is(err, readline.ErrInterrupt):
			continue
		case errors.Is(err, io.EOF):
			return nil
		case errors.As(err, &serr):
			fmt.Fprintln(term, err)
			continue
		case err != nil:
			return err
		}
		if strings.TrimSpace(src) == "" {
			continue
		}
		if _, err := evalInterruptible(ctx, b, src, term, sigs); err != nil {
			return err
		}
	}
}

// evalInterruptible evaluates src, cancelling it at the first SIGINT.
func evalInterruptible(ctx context.Context, b Backend, src string, term Terminal, sigs chan os.Signal) (bool, error) {
	select {
	case <-sigs: // one that arrived at the prompt
	default:
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-sigs:
			io.WriteString(term, "\n") // after the ^C the terminal echoed
			cancel(errInterrupted)
		case <-done:
		}
	}()
	ok, err := b.Eval(ctx, src, term)
	close(done)
	wg.Wait()
	return ok, err
}

// runScript evaluates the chunks read from r in order, output to w, and
// stops at the first that fails.
func runScript(ctx context.Context, b Backend, r io.Reader, w io.Writer) error {
	br := bufio.NewReader(r)
	term := Plain{w}
	for {
		src, err := ReadChunk(func(string) (string, error) {
			line, err := br.ReadString('\n')
			if err == io.EOF && line != "" {
				err = nil // the last line has no newline
			}
			return strings.TrimSuffix(line, "\n"), err
		})
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			fmt.Fprintln(w, err)
			return ErrStatementFailed
		}
		if strings.TrimSpace(src) == "" {
			continue
		}
		ok, err := b.Eval(ctx, src, term)
		if err != nil {
			return err
		}
		if !ok {
			return ErrStatementFailed
		}
	}
}

// Plain is a Terminal that is only output (a pipe, a file): it has no
// raw mode, so m.shell() cannot run on it.
type Plain struct{ io.Writer }

func (Plain) Raw() (runtime.TTY, func(), error) {
	return nil, nil, errors.New("needs an interactive terminal, and standard input is not one")
}

// completer adapts a Backend to readline.
type completer struct{ b Backend }

func (c completer) Do(line []rune, pos int) ([][]rune, int) {
	rest, n := c.b.Complete(string(line), pos)
	out := make([][]rune, len(rest))
	for i, r := range rest {
		out[i] = []rune(r)
	}
	return out, n
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	return readline.IsTerminal(int(f.Fd()))
}
