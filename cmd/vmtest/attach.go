package main

import (
	"context"
	"fmt"
	"os"

	"github.com/vmtest/vmtest/repl/control"
)

// cmdAttach is vmtest attach DIR: the prompt on the network that vmtest
// start runs in DIR, evaluated there. Ctrl-D detaches; the network keeps
// running.
func cmdAttach(args []string) int {
	dir, code, ok := runDirArg("attach", args, `; try: vmtest attach "$(vmtest start examples/hello.star)"`)
	if !ok {
		return code
	}
	c, err := control.Dial(dir, true)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmtest attach: %v\n", err)
		return exitFailure
	}
	defer c.Close()
	interactive := isTerminal(os.Stdin) && isTerminal(os.Stdout)
	if interactive {
		fmt.Printf("vmtest attach: %s (%s), %s, run by pid %d.\n", c.Info.Test, c.Info.File, describeMachines(c.Info.Machines), c.Info.PID)
		fmt.Printf("Tab completes, Ctrl-C cancels a statement, Ctrl-D detaches (the network keeps running; vmtest stop %s stops it).\n", dir)
	}
	code = prompt(context.Background(), c, nil)
	if interactive && code == 0 {
		fmt.Printf("detached; the network keeps running (vmtest stop %s)\n", dir)
	}
	return code
}

// cmdStop is vmtest stop DIR: stop the network that vmtest start runs in
// DIR, and return when its machines have stopped.
func cmdStop(args []string) int {
	dir, code, ok := runDirArg("stop", args, "")
	if !ok {
		return code
	}
	c, err := control.Dial(dir, false)
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmtest stop: %v\n", err)
		return exitFailure
	}
	defer c.Close()
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "vmtest stop: %v\n", err)
		return exitFailure
	}
	fmt.Printf("stopped %s (%s)\n", c.Info.Test, dir)
	return 0
}

// runDirArg parses the arguments of a verb whose one argument is the run
// directory of a vmtest start (attach, stop). When it returns ok false it
// has said why, with hint, and the verb returns code.
func runDirArg(verb string, args []string, hint string) (dir string, code int, ok bool) {
	pos, code, ok := parseFlags(newFlags(verb), args, false)
	if !ok {
		return "", code, false
	}
	if len(pos) != 1 {
		fmt.Fprintf(os.Stderr, "vmtest %s: want the run directory that vmtest start printed%s\n%s", verb, hint, verbUsage(verb))
		return "", exitUsage, false
	}
	return pos[0], 0, true
}
