package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/runtime"
)

// cmdDeps prints the packages the machines of the given files need,
// sorted, one per line. A file is evaluated in declaration-only mode: its
// first action (start_all, a machine method, sleep) stops it, and every
// config function runs; nothing boots.
func cmdDeps(args []string) int {
	fs := flag.NewFlagSet("vmtest deps", flag.ContinueOnError)
	var libs libFlag
	fs.Var(&libs, "L", "look for load()ed libraries in `DIR` too (repeatable; then $VMTEST_PATH)")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(files) == 0 {
		fmt.Fprintln(os.Stderr, "vmtest deps: no test file given; try: vmtest deps examples/hello.star")
		return exitUsage
	}
	ctx, stop := interruptibleCause()
	defer stop()
	var all []string
	for _, file := range files {
		pkgs, err := declaredPackages(ctx, file, libs)
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
func declaredPackages(ctx context.Context, file string, libs []string) ([]string, error) {
	_, pkgs, err := declared(ctx, file, libs, false, os.Stderr)
	return pkgs, err
}

// declared evaluates file's declarations on a network that stops at the
// first action (nothing boots) and returns its machines and the packages
// they need. With checkPackages, a package missing on the host is an
// error, as for vmtest run. What the file prints goes to print.
func declared(ctx context.Context, file string, libs []string, checkPackages bool, print io.Writer) (machines, packages []string, err error) {
	net := runtime.New(runtime.Options{Name: testName(file), DeclareOnly: true, NoPackageCheck: !checkPackages, SkipUnits: true})
	defer net.Close()
	script, loader := newScript(ctx, net, libs, func(_ *starlark.Thread, msg string) { fmt.Fprintln(print, msg) })
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
