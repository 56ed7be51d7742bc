// Package repl is vmtest's interactive prompt: Starlark evaluated against
// a live network of machines, one chunk of input at a time.
//
// A Session holds the prompt's globals (every builtin, the machine
// handles and the names of the test file) and evaluates chunks on them
// (Eval), completes names (Complete), and runs the test file again on
// the live network (test_script()). Run is the front end on the user's
// terminal:
// readline with history and completion, multi-line input, Ctrl-C to
// cancel the running statement, Ctrl-D to leave. Between the two is a
// Backend: the Session itself in the same process (vmtest repl, vmtest
// run -i), or a client of a control socket (package repl/control) for a
// network running in another process (vmtest attach).
//
// Interactive builtins (m.shell()) borrow the user's terminal through
// the Terminal that each Eval is given; Terminal.Raw puts it in raw mode.
package repl
