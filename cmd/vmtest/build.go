package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/vmtest/vmtest/runtime"
)

// buildFlags are the flags of vmtest build and build-vm.
type buildFlags struct {
	boot   bootFlags
	result string
	libs   libFlag
	limits limitFlags
}

func (bf *buildFlags) register(fs *flag.FlagSet) {
	bf.boot.register(fs)
	bf.limits.register(fs)
	fs.StringVar(&bf.result, "o", "result", "write the script to `DIR`/bin/")
	fs.Var(&bf.libs, "L", "look for load()ed libraries in `DIR` too (repeatable; then $VMTEST_PATH)")
}

// cmdBuild is vmtest build FILE: check the file's declarations and write
// result/bin/run-vms, a script that starts its whole network in the
// foreground (vmtest start --foreground), as the seed's run-vms does.
func cmdBuild(args []string) int {
	fs := newFlags("build")
	var bf buildFlags
	bf.register(fs)
	files, code, ok := parseFlags(fs, args, true)
	if !ok {
		return code
	}
	if len(files) != 1 {
		fmt.Fprintf(os.Stderr, "vmtest build: want one test file, got %d\n%s", len(files), verbUsage("build"))
		return exitUsage
	}
	return build(files[0], "", bf)
}

// cmdBuildVM is vmtest build-vm FILE MACHINE: the same for one machine,
// result/bin/run-<name>-vm (vmtest start --foreground --only NAME).
func cmdBuildVM(args []string) int {
	fs := newFlags("build-vm")
	var bf buildFlags
	bf.register(fs)
	pos, code, ok := parseFlags(fs, args, true)
	if !ok {
		return code
	}
	if len(pos) != 2 {
		fmt.Fprintf(os.Stderr, "vmtest build-vm: want a test file and a machine name, got %d arguments; try: vmtest build-vm examples/ping.star server\n%s", len(pos), verbUsage("build-vm"))
		return exitUsage
	}
	return build(pos[0], pos[1], bf)
}

// build writes the script that starts file's network (only the machine
// only, if not ""), after checking the file's declarations and the host's
// packages.
func build(file, only string, bf buildFlags) int {
	verb := "vmtest build"
	if only != "" {
		verb = "vmtest build-vm"
	}
	if err := checkTestFile(file); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", verb, err)
		return exitUsage
	}
	ctx, stop := interruptibleCause()
	defer stop()
	machines, _, err := declared(ctx, file, bf.libs, bf.limits.Limits, true, io.Discard)
	if err != nil {
		fmt.Fprint(os.Stderr, runtime.Report(err))
		return exitFailure
	}
	if len(machines) == 0 {
		fmt.Fprintf(os.Stderr, "%s: %s declares no machine: there is nothing to start\n", verb, file)
		return exitFailure
	}
	if only != "" && !slices.Contains(machines, only) {
		fmt.Fprintf(os.Stderr, "%s: %s declares no machine %q%s\n", verb, file, only, suggestMachine(only, machines))
		return exitUsage
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", verb, err)
		return exitFailure
	}
	script, err := startScript(self, file, only, bf)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", verb, err)
		return exitFailure
	}
	name := "run-vms"
	if only != "" {
		name = "run-" + only + "-vm"
	}
	path := filepath.Join(bf.result, "bin", name)
	if err := writeExecutable(path, script); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", verb, err)
		return exitFailure
	}
	fmt.Println(path)
	return 0
}

// startScript returns the shell script that execs self (vmtest) start
// --foreground on file, with absolute paths so that it runs from any
// directory (the machines' disks are kept in that directory). Every
// word is quoted for the shell, and the comment names the file in Go's
// quotes: a path may hold any character but NUL.
func startScript(self, file, only string, bf buildFlags) (string, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", err
	}
	argv := []string{self, "start", "--foreground"}
	if only != "" {
		argv = append(argv, "--only", only)
	}
	if bf.boot.kernel != "" {
		k, err := filepath.Abs(bf.boot.kernel)
		if err != nil {
			return "", err
		}
		argv = append(argv, "--kernel", k)
	}
	if bf.boot.accel != "auto" {
		argv = append(argv, "--accel", bf.boot.accel)
	}
	if bf.boot.verbose {
		argv = append(argv, "-v")
	}
	argv = append(argv, bf.limits.args()...)
	for _, l := range bf.libs {
		d, err := filepath.Abs(l)
		if err != nil {
			return "", err
		}
		argv = append(argv, "-L", d)
	}
	argv = append(argv, abs)
	words := make([]string, len(argv))
	for i, a := range argv {
		words[i] = shellWord(a)
	}
	what := "the machines of " + strconv.Quote(abs)
	if only != "" {
		what = "machine " + only + " of " + strconv.Quote(abs)
	}
	return fmt.Sprintf(`#!/bin/sh
# Written by vmtest: starts %s in the
# foreground, with the prompt if this is a terminal (Ctrl-D stops them).
# Disks are kept as ./<name>.qcow2 in the directory this runs from;
# $QEMU_OPTS adds QEMU options; flags of vmtest start may follow.
exec %s "$@"
`, what, strings.Join(words, " ")), nil
}

// shellWord quotes s as one POSIX shell word.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// writeExecutable writes an executable file atomically, creating its
// directory.
func writeExecutable(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	// A temporary file of a name of its own: never one that someone
	// could have put a link at.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.WriteString(content)
	if err == nil {
		err = f.Chmod(0o755)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
