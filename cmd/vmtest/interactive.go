package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/builtins"
	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/repl"
	"github.com/vmtest/vmtest/runtime"
	"github.com/vmtest/vmtest/vm"
	"github.com/vmtest/vmtest/vm/disk"
)

// artifactCache prepares what machines boot from once, at the first boot
// that needs it and with that boot's context; a preparation that failed
// (or was cancelled with a statement) is tried again by the next boot.
type artifactCache struct {
	opts vm.Options
	mu   sync.Mutex
	art  *vm.Artifacts
}

func (c *artifactCache) get(ctx context.Context) (*vm.Artifacts, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.art != nil {
		return c.art, nil
	}
	art, err := vm.Prepare(ctx, c.opts)
	if err != nil {
		return nil, err
	}
	c.art = art
	return art, nil
}

// session is a test file's network opened for a prompt (vmtest repl,
// vmtest start).
type session struct {
	net     *runtime.Network
	script  *builtins.Script
	repl    *repl.Session
	out     *repl.Output
	logFile *os.File
}

// sessionConfig says how to open a session.
type sessionConfig struct {
	file   string
	boot   bootFlags
	libs   []string
	limits lang.Limits
	outDir string    // the test's output directory, emptied here
	term   io.Writer // where the log goes between statements
	// For vmtest start: see runtime.Options.
	runDir   *vm.RunDir
	disks    map[string]disk.Image
	qemuOpts []string
	// showScreens: --display (see runtime.Options.ShowScreens).
	showScreens bool
}

// openSession makes the file's network, runs the file's declarations at
// a new prompt with the network in declaration-only mode (it stops at
// the first action, and nothing boots), and makes the network live. An
// error is the file's (print it with runtime.Report) or the output
// directory's.
func openSession(ctx context.Context, c sessionConfig) (*session, error) {
	if err := prepareOutDir(c.outDir); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(c.outDir, "log.txt"))
	if err != nil {
		return nil, err
	}
	out := repl.NewOutput(c.term)
	log := runtime.NewLog(out, logFile, runtime.LogOptions{Color: runtime.UseColor(os.Stdout), Verbose: c.boot.verbose})
	arts := &artifactCache{opts: c.boot.options()}
	net := runtime.New(runtime.Options{
		Name:        testName(c.file),
		OutDir:      c.outDir,
		Artifacts:   arts.get,
		Log:         log,
		DeclareOnly: true,
		NewSwitch:   runtime.DefaultSwitch,
		RunDir:      c.runDir,
		Disks:       c.disks,
		QEMUOpts:    c.qemuOpts,
		ShowScreens: c.showScreens,
	})
	// Config functions read through an attribute (m.config at the prompt)
	// get a thread of their own; they are pure Starlark.
	script, loader := newScript(context.Background(), net, c.libs, c.limits, func(_ *starlark.Thread, msg string) { log.Printf("%s", msg) })
	s := &session{net: net, script: script, out: out, logFile: logFile}
	s.repl = repl.NewSession(repl.Config{Loader: loader, Globals: script.Globals(), File: c.file, Output: out})
	term := c.term
	if term == nil {
		term = io.Discard
	}
	err = s.repl.ExecFile(ctx, repl.Plain{Writer: term})
	if err == nil {
		thread, release := loader.NewThread(ctx, "finish")
		err = script.Finish(thread)
		release()
	}
	if err != nil && !errors.Is(err, runtime.ErrDeclareOnly) {
		s.close()
		return nil, err
	}
	net.Live()
	return s, nil
}

// close stops every machine and removes the run directory.
func (s *session) close() error {
	err := s.net.Close()
	s.logFile.Close()
	return err
}
