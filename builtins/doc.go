// Package builtins is everything a vmtest script can call: machine(),
// machines(), job(), the Machine type and its methods, nodes for config
// functions, and the globals start_all, subtest, retry, sleep and log.
//
// It is a thin layer: each builtin checks its arguments (the errors name
// the builtin, "machine.succeed: ...", and suggest the nearest name for a
// misspelt keyword or key) and then calls package runtime.
//
// # Declarations and actions
//
// machine() and machines() declare; they boot nothing. Everything that
// needs a running machine (its methods, start_all, sleep) is an action.
// The first action fixes the network: every machine's config function
// runs (in declaration order, each at most once; a config function reading
// another machine's config runs that one first), the host is checked for
// every machine's packages, and the addresses are assigned. Reading a
// machine's ip or ips, or running a config function, already fixes the set
// of machine names, because addresses depend on all of them; declaring a
// machine after that is an error.
//
// # Concurrency
//
// A Script belongs to one script run: its values are used by the
// goroutine executing the run's Starlark threads, one at a time. Blocking
// builtins run their work on a goroutine they wait for (see Script.block)
// and give up when the thread's context (lang.Context) is done or the
// thread is cancelled.
package builtins
