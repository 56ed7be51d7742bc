package main

import "flag"

// registerDisplay adds --display to the flags of a verb that runs a
// file's network (run, repl, start): it prints, at each boot of a machine
// with a display, the unix socket on which QEMU serves its screen over
// VNC. vmtest opens no window and no TCP port; a run with or without it
// needs no display on the host.
func registerDisplay(fs *flag.FlagSet, show *bool) {
	fs.BoolVar(show, "display", false, "print the VNC socket on which each display machine's screen can be watched")
}
