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
	fs := newFlags("attach")
	pos, code, ok := parseFlags(fs, args, false)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintf(os.Stderr, "vmtest attach: want the run directory that vmtest start printed; try: vmtest attach \"$(vmtest start examples/hello.star)\"\n%s", verbUsage("attach"))
		return exitUsage
	}
	dir := pos[0]
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
	fs := newFlags("stop")
	pos, code, ok := parseFlags(fs, args, false)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintf(os.Stderr, "vmtest stop: want the run directory that vmtest start printed\n%s", verbUsage("stop"))
		return exitUsage
	}
	dir := pos[0]
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
