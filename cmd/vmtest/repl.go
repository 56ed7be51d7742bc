package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/builtins"
	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/repl"
	"github.com/vmtest/vmtest/runtime"
)

// cmdRepl is vmtest repl: the prompt on a test file's network. The file's
// declarations run; machines boot when a statement first needs them.
func cmdRepl(args []string) int {
	fs := newFlags("repl")
	var bf bootFlags
	var lf limitFlags
	bf.register(fs)
	lf.register(fs)
	out := fs.String("out", "vmtest-out", "write the results to `DIR`/<test>/")
	var libs libFlag
	var display bool
	registerDisplay(fs, &display)
	fs.Var(&libs, "L", "look for load()ed libraries in `DIR` too (repeatable; then $VMTEST_PATH)")
	files, code, ok := parseFlags(fs, args, true)
	if !ok {
		return code
	}
	if len(files) != 1 {
		fmt.Fprintf(os.Stderr, "vmtest repl: want one test file, got %d; try: vmtest repl examples/hello.star\n%s", len(files), verbUsage("repl"))
		return exitUsage
	}
	file := files[0]
	if err := checkTestFile(file); err != nil {
		fmt.Fprintf(os.Stderr, "vmtest repl: %v\n", err)
		return exitUsage
	}

	ctx, stop := interruptibleCause()
	s, err := openSession(ctx, sessionConfig{file: file, boot: bf, libs: libs, limits: lf.Limits, outDir: filepath.Join(*out, testName(file)), term: os.Stdout, showScreens: display})
	interrupted := ctx.Err() != nil
	stop()
	if err != nil {
		fmt.Fprint(os.Stderr, runtime.Report(err))
		if interrupted {
			return exitInterrupted
		}
		return exitFailure
	}
	if isTerminal(os.Stdin) && isTerminal(os.Stdout) {
		fmt.Printf("vmtest repl: %s declares %s; each boots when first used.\n", file, describeMachines(s.script.Machines()))
		fmt.Println("Tab completes, Ctrl-C cancels a statement, test_script() runs the file, Ctrl-D stops the machines and exits.")
	}
	code = prompt(context.Background(), s.repl, s.out)
	if len(s.net.Machines()) > 0 {
		s.net.Log().Printf("stopping the machines")
	}
	if err := s.close(); err != nil {
		fmt.Fprintf(os.Stderr, "vmtest repl: cleaning up: %v\n", err)
	}
	return code
}

// prompt runs the prompt on b until the user leaves (Ctrl-D, end of
// input, SIGTERM or SIGHUP) or parent is done, and returns the exit
// status: 1 when input that is not a terminal had a failing statement,
// 130 after a signal.
func prompt(parent context.Context, b repl.Backend, out *repl.Output) int {
	ctx, stop := signal.NotifyContext(parent, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	err := repl.Run(ctx, b, repl.Options{History: repl.HistoryFile(), Output: out})
	switch {
	case ctx.Err() != nil:
		return exitInterrupted
	case errors.Is(err, repl.ErrStatementFailed):
		return exitFailure
	case err != nil:
		fmt.Fprintf(os.Stderr, "vmtest: %v\n", err)
		return exitFailure
	}
	return 0
}

// describeMachines says which machines a file declares: "machines a, b".
func describeMachines(names []string) string {
	switch len(names) {
	case 0:
		return "no machines"
	case 1:
		return "machine " + names[0]
	}
	return "machines " + strings.Join(names, ", ")
}

// promptAfterFailure is vmtest run -i after a failure: the prompt on the
// network as the failure left it, with the file's globals, until the user
// leaves; Ctrl-C is the prompt's meanwhile (hold).
func promptAfterFailure(ctx context.Context, file string, script *builtins.Script, loader *lang.Loader, fileGlobals starlark.StringDict, out *repl.Output, hold func() func()) {
	release := hold()
	defer release()
	globals := script.Globals()
	for k, v := range fileGlobals {
		globals[k] = v
	}
	s := repl.NewSession(repl.Config{Loader: loader, Globals: globals, File: file, Output: out})
	if err := s.BindLoads(ctx); err != nil {
		fmt.Fprint(out, runtime.Report(err))
	}
	fmt.Fprintf(out, "vmtest run -i: the network of %s is still up, as the failure left it.\n", file)
	fmt.Fprintln(out, "Tab completes, Ctrl-C cancels a statement, test_script() runs the file again, Ctrl-D stops the machines.")
	prompt(context.Background(), s, out)
}
