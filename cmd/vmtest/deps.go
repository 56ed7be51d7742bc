package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/runtime"
)

// cmdDeps prints the packages the machines of the given files need,
// sorted, one per line. A file is evaluated in declaration-only mode: its
// first action (start_all, a machine method, sleep) stops it, and every
// config function runs; nothing boots.
func cmdDeps(args []string) int {
	fs := newFlags("deps")
	var libs libFlag
	var lf limitFlags
	fs.Var(&libs, "L", "look for load()ed libraries in `DIR` too (repeatable; then $VMTEST_PATH)")
	lf.register(fs)
	files, code, ok := parseFlags(fs, args, true)
	if !ok {
		return code
	}
	if len(files) == 0 {
		fmt.Fprintf(os.Stderr, "vmtest deps: no test file given; try: vmtest deps examples/hello.star\n%s", verbUsage("deps"))
		return exitUsage
	}
	if err := checkTestFiles(files); err != nil {
		fmt.Fprintf(os.Stderr, "vmtest deps: %v\n", err)
		return exitUsage
	}
	ctx, stop := interruptibleCause()
	defer stop()
	var all []string
	for _, file := range files {
		pkgs, err := declaredPackages(ctx, file, libs, lf.Limits)
		if err != nil {
			fmt.Fprint(os.Stderr, runtime.Report(err))
			return exitFailure
		}
		all = append(all, pkgs...)
	}
	slices.Sort(all)
	for _, p := range slices.Compact(all) {
		fmt.Println(p)
	}
	return 0
}

// declaredPackages evaluates file's declarations and returns the packages
// its machines need.
func declaredPackages(ctx context.Context, file string, libs []string, limits lang.Limits) ([]string, error) {
	_, pkgs, err := declared(ctx, file, libs, limits, false, os.Stderr)
	return pkgs, err
}

// declared evaluates file's declarations on a network that stops at the
// first action (nothing boots) and returns its machines and the packages
// they need. With checkPackages, a package missing on the host is an
// error, as for vmtest run. What the file prints goes to print.
func declared(ctx context.Context, file string, libs []string, limits lang.Limits, checkPackages bool, print io.Writer) (machines, packages []string, err error) {
	net := runtime.New(runtime.Options{Name: testName(file), DeclareOnly: true, NoPackageCheck: !checkPackages, SkipUnits: true})
	defer net.Close()
	script, loader := newScript(ctx, net, libs, limits, func(_ *starlark.Thread, msg string) { fmt.Fprintln(print, msg) })
	_, err = loader.ExecFile(ctx, file)
	if err == nil {
		thread, release := loader.NewThread(ctx, "finish")
		err = script.Finish(thread)
		release()
	}
	if err != nil && !errors.Is(err, runtime.ErrDeclareOnly) {
		return nil, nil, err
	}
	return script.Machines(), script.Packages(), nil
}
