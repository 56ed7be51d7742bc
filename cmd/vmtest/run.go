package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/builtins"
	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/repl"
	"github.com/vmtest/vmtest/runtime"
	"github.com/vmtest/vmtest/stdlib"
	"github.com/vmtest/vmtest/vm"
)

// runFlags are the flags of vmtest run.
type runFlags struct {
	boot    bootFlags
	jobs    int
	timeout time.Duration
	out     string
	libs    libFlag
	limits  limitFlags

	coverage bool // on for every machine
	pcap     bool
	display  bool // print where the screens can be watched
	// interactive (-i): a failing file opens the prompt on its network;
	// hold keeps Ctrl-C for the prompt meanwhile.
	interactive bool
	hold        func() (release func())
}

// libFlag collects repeated -L DIR flags.
type libFlag []string

func (l *libFlag) String() string       { return strings.Join(*l, ":") }
func (l *libFlag) Set(dir string) error { *l = append(*l, dir); return nil }

func cmdRun(args []string) int {
	fs := newFlags("run")
	rf := runFlags{jobs: 1}
	rf.boot.register(fs)
	rf.limits.register(fs)
	fs.Var(intFlag{&rf.jobs, 1, maxInt, "4"}, "j", "run up to `N` files at once, each with its own network")
	fs.Var(durationFlag{&rf.timeout}, "timeout", "fail a file whose run takes longer than `DURATION` (e.g. 10m); 0: no limit")
	fs.StringVar(&rf.out, "out", "vmtest-out", "write each file's results to `DIR`/<test>/")
	fs.Var(&rf.libs, "L", "look for load()ed libraries in `DIR` too (repeatable; then $VMTEST_PATH)")
	fs.BoolVar(&rf.coverage, "coverage", false, "collect coverage from every machine and write a report to <out>/<test>/coverage/")
	fs.BoolVar(&rf.pcap, "pcap", false, "capture every vlan to <out>/<test>/net/vlan<N>.pcap")
	fs.BoolVar(&rf.interactive, "i", false, "at a failure, open the prompt on the network, still up (vmtest repl)")
	registerDisplay(fs, &rf.display)
	files, code, ok := parseFlags(fs, args, true)
	if !ok {
		return code
	}
	if len(files) == 0 {
		fmt.Fprintf(os.Stderr, "vmtest run: no test file given; try: vmtest run examples/hello.star\n%s", verbUsage("run"))
		return exitUsage
	}
	if rf.interactive && rf.jobs > 1 {
		fmt.Fprintf(os.Stderr, "vmtest run: -i and -j %d: the prompt needs the terminal, so -i runs one file at a time\n", rf.jobs)
		return exitUsage
	}
	if err := checkTestFiles(files); err != nil {
		fmt.Fprintf(os.Stderr, "vmtest run: %v\n", err)
		return exitUsage
	}

	intr := newInterrupts()
	defer intr.stop()
	ctx := intr.ctx
	rf.hold = intr.hold
	// Every file's machines boot from the same artifacts, prepared once.
	art := sync.OnceValues(func() (*vm.Artifacts, error) { return vm.Prepare(ctx, rf.boot.options()) })
	color := runtime.UseColor(os.Stdout)

	start := time.Now()
	var (
		mu     sync.Mutex // serialises whole reports of parallel files
		wg     sync.WaitGroup
		sem    = make(chan struct{}, rf.jobs)
		failed []string
	)
	buffered := rf.jobs > 1 && len(files) > 1
	for _, file := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var term io.Writer = os.Stdout
			var buf bytes.Buffer
			if buffered {
				term = &lockedWriter{w: &buf}
			}
			ok := runFile(ctx, file, rf, term, color, func(c context.Context) (*vm.Artifacts, error) { return art() })
			mu.Lock()
			defer mu.Unlock()
			if buffered {
				os.Stdout.Write(buf.Bytes())
			}
			if !ok {
				failed = append(failed, file)
			}
		}()
	}
	wg.Wait()
	if len(files) > 1 {
		fmt.Printf("%d of %d test files passed in %.1fs", len(files)-len(failed), len(files), time.Since(start).Seconds())
		if len(failed) > 0 {
			fmt.Printf("; failed: %s", strings.Join(failed, " "))
		}
		fmt.Println()
	}
	switch {
	case ctx.Err() != nil:
		return exitInterrupted
	case len(failed) > 0:
		return exitFailure
	}
	return 0
}

// runFile runs one test file with its own network and output directory
// and reports whether it passed. Its progress goes to term.
func runFile(ctx context.Context, file string, rf runFlags, term io.Writer, color bool, art func(context.Context) (*vm.Artifacts, error)) bool {
	test := testName(file)
	outDir := filepath.Join(rf.out, test)
	if err := prepareOutDir(outDir); err != nil {
		fmt.Fprintf(term, "FAIL %s: %v\n", test, err)
		return false
	}
	logFile, err := os.Create(filepath.Join(outDir, "log.txt"))
	if err != nil {
		fmt.Fprintf(term, "FAIL %s: %v\n", test, err)
		return false
	}
	defer logFile.Close()
	var out *repl.Output
	if rf.interactive {
		out = repl.NewOutput(term) // the log shows above a prompt
		term = out
	}
	log := runtime.NewLog(term, logFile, runtime.LogOptions{Color: color, Verbose: rf.boot.verbose})
	log.Printf("running %s", file)

	runCtx := ctx // without --timeout: coverage is collected after one too
	if rf.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, rf.timeout, fmt.Errorf("the run of %s timed out after %s (--timeout)", file, rf.timeout))
		defer cancel()
	}
	net := runtime.New(runtime.Options{
		Name:        test,
		OutDir:      outDir,
		Artifacts:   art,
		Log:         log,
		NewSwitch:   runtime.DefaultSwitch,
		Coverage:    rf.coverage,
		SourceDir:   filepath.Dir(file),
		Capture:     rf.pcap,
		ShowScreens: rf.display,
	})
	defer net.Close()
	script, loader := newScript(ctx, net, rf.libs, rf.limits.Limits, func(_ *starlark.Thread, msg string) { log.Printf("%s", msg) })
	start := time.Now()
	globals, err := loader.ExecFile(ctx, file)
	if err == nil {
		thread, release := loader.NewThread(ctx, "finish")
		err = script.Finish(thread)
		release()
	}
	if err == nil && len(script.Machines()) == 0 && len(log.Results()) == 0 {
		log.Printf("warning: %s", testsNothing(file))
	}
	whole := runtime.Result{Name: test, Duration: time.Since(start), Err: err}
	if err != nil {
		log.Raw(runtime.Report(err))
	}
	if err != nil && rf.interactive && ctx.Err() == nil && !errors.Is(err, runtime.ErrDeclareOnly) {
		promptAfterFailure(ctx, file, script, loader, globals, out, rf.hold)
	}
	if cerr := collectCoverage(runCtx, net); cerr != nil {
		log.Raw(runtime.Report(cerr))
		if err == nil {
			err, whole.Err = cerr, cerr
		}
	}
	if len(net.Machines()) > 0 {
		log.Printf("stopping the machines")
	}
	if cerr := net.Close(); cerr != nil {
		log.Printf("cleaning up: %v", cerr)
	}
	if jerr := runtime.WriteJUnit(filepath.Join(outDir, "junit.xml"), test, whole, log.Results(), runtime.Report); jerr != nil {
		log.Printf("writing junit.xml: %v", jerr)
	}
	log.Summary(test, err, len(script.Machines()))
	return err == nil
}

// newScript returns the builtins and the Loader of one run of a file.
func newScript(ctx context.Context, net *runtime.Network, libs []string, limits lang.Limits, print func(*starlark.Thread, string)) (*builtins.Script, *lang.Loader) {
	var loader *lang.Loader
	script := builtins.New(net, builtins.Options{
		NewThread: func() (*starlark.Thread, func()) { return loader.NewThread(ctx, "config") },
	})
	loader = lang.New(lang.Config{
		Predeclared: script.Globals(),
		LibPath:     lang.LibPath(libs, os.Getenv("VMTEST_PATH")),
		Stdlib:      stdlib.FS(),
		Print:       print,
		Limits:      limits,
	})
	return script, loader
}

// testsNothing says why a file that declared no machine and ran no
// subtest tests nothing: it is empty, or has no machine.
func testsNothing(file string) string {
	src, _ := os.ReadFile(file)
	if f, err := lang.Options().Parse(file, src, 0); err == nil && len(f.Stmts) == 0 {
		return file + " is empty: it declares and tests nothing"
	}
	return file + " declares no machine and runs no subtest: it tests nothing"
}

// testName is a file's test name: its base name without .star.
func testName(file string) string {
	return strings.TrimSuffix(filepath.Base(file), ".star")
}

// checkTestFiles reports a file that is not one (see checkTestFile), a
// file given twice, or two files with the same test name (their output
// directories would clash).
func checkTestFiles(files []string) error {
	seen := map[string]string{}
	for _, f := range files {
		name := testName(f)
		if prev, ok := seen[name]; ok {
			return fmt.Errorf("%s and %s have the same test name %q: their results would share vmtest-out/%s", prev, f, name, name)
		}
		seen[name] = f
	}
	for _, f := range files {
		if err := checkTestFile(f); err != nil {
			return err
		}
	}
	return nil
}

// checkTestFile reports a test file that does not exist, or is a
// directory, or cannot be read.
func checkTestFile(file string) error {
	fi, err := os.Stat(file)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s: no such file", file)
	case err != nil:
		return err
	case fi.IsDir():
		return fmt.Errorf("%s is a directory; give the test files in it, such as %s", file, filepath.Join(file, "*.star"))
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	return f.Close()
}

// outMarker marks a directory as a test's output directory, which the next
// run may replace.
const outMarker = ".vmtest-out"

// prepareOutDir empties (or creates) a test's output directory. A
// directory that exists, is not empty, and was not made by vmtest is left
// alone: an error says so.
func prepareOutDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	case len(entries) > 0:
		if _, err := os.Stat(filepath.Join(dir, outMarker)); err != nil {
			return fmt.Errorf("refusing to replace %s: it is not empty and not a vmtest output directory (choose another with --out)", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, outMarker), []byte("vmtest replaces this directory at every run\n"), 0o644)
}

// parseInterleaved parses flags that may come before, between or after
// the positional arguments ("vmtest run a.star b.star -j 2") and returns
// the positional ones. After "--" everything is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		i := indexOf(args, "--")
		head, tail := args, []string(nil)
		if i >= 0 {
			head, tail = args[:i], args[i+1:]
		}
		if err := fs.Parse(head); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return append(pos, tail...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
		if i >= 0 {
			args = append(append(args, "--"), tail...)
		}
	}
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// interruptibleCause returns a context cancelled by SIGINT or SIGTERM,
// whose cause says so.
func interruptibleCause() (context.Context, func()) {
	i := newInterrupts()
	return i.ctx, i.stop
}

// interrupts is a context cancelled by SIGINT or SIGTERM, whose cause
// says so. A prompt that handles Ctrl-C itself holds it (hold).
type interrupts struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	ch     chan os.Signal
	held   atomic.Int32
	done   chan struct{}
	wg     sync.WaitGroup
}

func newInterrupts() *interrupts {
	ctx, cancel := context.WithCancelCause(context.Background())
	i := &interrupts{ctx: ctx, cancel: cancel, ch: make(chan os.Signal, 1), done: make(chan struct{})}
	signal.Notify(i.ch, os.Interrupt, syscall.SIGTERM)
	i.wg.Add(1)
	go func() {
		defer i.wg.Done()
		for {
			select {
			case sig := <-i.ch:
				if sig == os.Interrupt && i.held.Load() > 0 {
					continue // the prompt's: it cancels a statement
				}
				cancel(fmt.Errorf("interrupted (%v)", sig))
			case <-i.done:
				return
			}
		}
	}()
	return i
}

// hold makes SIGINT leave the context alone until release.
func (i *interrupts) hold() (release func()) {
	i.held.Add(1)
	return func() { i.held.Add(-1) }
}

// stop stops listening and cancels the context.
func (i *interrupts) stop() {
	signal.Stop(i.ch)
	close(i.done)
	i.wg.Wait()
	i.cancel(nil)
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *lockedWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
