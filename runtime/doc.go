// Package runtime is the network of one test run as a whole: the declared
// machines with their computed addresses, their lazy and parallel boot,
// the virtual switch, cancellation, logging and results (console logs,
// log.txt, junit.xml) in the test's output directory.
//
// It knows nothing of Starlark. Package builtins checks a script's
// arguments and calls in here; cmd/vmtest ties a file, a Loader and a
// Network together.
//
// # Who calls what
//
// A Network is made with New, given its machines once with Define, and
// released with Close, which stops every machine whatever happened.
// Before Close, CollectCoverage powers off the machines with coverage on
// and makes the report (package runtime/coverage) from their disks. In
// between, a script drives Machines from one goroutine (its Starlark
// thread); Network.StartAll boots machines in parallel on goroutines it
// owns and waits for. Every method that blocks takes a context and gives
// up when it is done: a run's --timeout, Ctrl-C and per-call timeouts
// all arrive that way.
//
// Errors about a machine are *Error values: one line for the message,
// and Details for the command's output, exit status and console tail.
package runtime
