// Command vmtest runs system tests in QEMU guests that share the host's
// files. The same static binary is the guest agent: started as PID 1 inside
// a machine, it becomes the agent (package vm/agent).
//
// Usage:
//
//	vmtest run [flags] FILE...               run test files, each with its own network
//	vmtest repl [flags] FILE                 a prompt on the file's network
//	vmtest start [flags] FILE                boot a network and keep it running
//	vmtest attach DIR                        a prompt on a network vmtest start runs
//	vmtest stop DIR                          stop it
//	vmtest build [flags] FILE                write result/bin/run-vms
//	vmtest build-vm [flags] FILE MACHINE     write result/bin/run-MACHINE-vm
//	vmtest deps [flags] FILE...              print the packages the files' machines need
//	vmtest exec [flags] [--] CMD [ARG...]   run CMD in a throwaway machine
//	vmtest doctor [flags]                    check QEMU, kernel, accelerator
//	vmtest version
//
// See SPEC.md for every verb and flag.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/vmtest/vmtest/vm/agent"
	"github.com/vmtest/vmtest/vm/hide"
)

// version is the vmtest release; set with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// Exit statuses of vmtest's own failures, apart from a guest command's
// status, which exec passes through. They follow timeout(1) and env(1).
const (
	exitFailure     = 1   // a verb failed (doctor found problems, a test failed)
	exitUsage       = 2   // bad flags or arguments
	exitTimeout     = 124 // the command hit --timeout
	exitVMFailure   = 125 // vmtest could not boot or reach the machine
	exitCannotExec  = 126 // the command exists but could not be run
	exitNotFound    = 127 // the command does not exist in the guest
	exitInterrupted = 130 // Ctrl-C
)

func main() {
	if os.Getpid() == 1 {
		agent.Main(version) // never returns
	}
	if len(os.Args) > 1 && os.Args[1] == hide.WrapperArg {
		hide.Main(os.Args[2:]) // never returns: becomes QEMU
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		usage()
		return exitUsage
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:])
	case "deps":
		return cmdDeps(args[1:])
	case "repl":
		return cmdRepl(args[1:])
	case "start":
		return cmdStart(args[1:])
	case "attach":
		return cmdAttach(args[1:])
	case "stop":
		return cmdStop(args[1:])
	case "build":
		return cmdBuild(args[1:])
	case "build-vm":
		return cmdBuildVM(args[1:])
	case "exec":
		return cmdExec(args[1:])
	case "doctor":
		return cmdDoctor(args[1:])
	case "version", "--version":
		fmt.Println("vmtest", version)
		return 0
	case "help", "-h", "--help":
		usage()
		return 0
	}
	fmt.Fprintf(os.Stderr, "vmtest: unknown command %q%s\n", args[0], suggest(args[0], verbs))
	usage()
	return exitUsage
}

var verbs = []string{"run", "repl", "start", "attach", "stop", "build", "build-vm", "deps", "exec", "doctor", "version", "help"}

// verbHelp is each verb's usage: its synopsis and what it does.
var verbHelp = []struct{ verb, synopsis, about string }{
	{"run", "vmtest run [-j N] [--timeout DURATION] [--out DIR] [-L DIR] [-v] [-i] FILE...",
		"run each test file with its own network of machines; results in DIR/<test>/;\n-i: at a failure, open the prompt on the network, still up"},
	{"repl", "vmtest repl [--out DIR] [-L DIR] [-v] FILE",
		"a prompt on the file's network: machines boot when first used; Ctrl-D stops them"},
	{"start", "vmtest start [--foreground] [--only NAME] [--out DIR] [-L DIR] [-v] FILE",
		"boot the file's network (disks kept as ./<name>.qcow2) and keep it running;\nprints its run directory DIR"},
	{"attach", "vmtest attach DIR", "the prompt on the network that vmtest start runs in DIR; Ctrl-D detaches"},
	{"stop", "vmtest stop DIR", "stop that network"},
	{"build", "vmtest build [-o DIR] [-L DIR] FILE",
		"write DIR/bin/run-vms (default result/): starts the network, as vmtest start --foreground"},
	{"build-vm", "vmtest build-vm [-o DIR] [-L DIR] FILE MACHINE",
		"write DIR/bin/run-MACHINE-vm: starts that machine; honours QEMU_OPTS"},
	{"deps", "vmtest deps [-L DIR] FILE...", "print the Debian packages the files' machines need, one per line"},
	{"exec", "vmtest exec [--memory MIB] [--cpus N] [--timeout DURATION] [--keep-state] [-v] [--] CMD [ARG...]",
		"boot one throwaway machine, run CMD in it, exit with its status"},
	{"doctor", "vmtest doctor", "report QEMU, kernel, modules, accelerator and cache; say how to install what is missing"},
	{"version", "vmtest version", ""},
}

// commonFlags are the flags of every verb that boots or runs a file.
const commonFlags = `common flags: --kernel PATH (or VMTEST_KERNEL), --accel kvm|tcg|auto,
  --max-steps N, --max-memory SIZE (bounds on a test file's computation)
`

// verbUsage is the usage of one verb, for its errors and -h.
func verbUsage(verb string) string {
	for _, v := range verbHelp {
		if v.verb == verb {
			return "usage: " + v.synopsis + "\n" + indent(v.about, "  ")
		}
	}
	return ""
}

// indent prefixes each line of s, which ends with a newline unless empty.
func indent(s, prefix string) string {
	if s == "" {
		return ""
	}
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix) + "\n"
}

func usage() { fmt.Fprint(os.Stderr, usageText()) }

// usageText is the usage of every verb.
func usageText() string {
	var b strings.Builder
	b.WriteString("usage:\n")
	for _, v := range verbHelp {
		b.WriteString("  " + v.synopsis + "\n" + indent(v.about, "        "))
	}
	b.WriteString("\n" + commonFlags)
	return b.String()
}
