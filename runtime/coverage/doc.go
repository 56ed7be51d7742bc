// Package coverage turns the coverage data that instrumented programs
// wrote on the machines of a run into one report: an lcov tracefile per
// machine and combined, an HTML report, and a summary of line and
// function percentages (text and JSON).
//
// It knows nothing of machines beyond their names and the directories
// their data was collected into. Package runtime sets the environment of
// every command on a machine with coverage on (Env), makes the guest
// directories at boot, powers the machines off so their programs exit and
// write their data, and copies each machine's GuestDir from its disk; then
// it calls Report.
//
// # The pipeline
//
// C and C++ (gcov): a program built with --coverage writes, at exit, a
// .gcda file per object file. GCOV_PREFIX puts it under GuestDir/gcov
// followed by the object file's absolute path on the host. For each
// machine, the .gcda files are laid out in a scratch tree next to copies
// of the host's .gcno files (written at build time next to the objects)
// and captured with lcov; the sources are read from the host.
//
// Go: a binary built with -cover writes its meta-data when it starts and
// its counters when it exits to GOCOVERDIR (GuestDir/go). `go tool
// covdata textfmt` turns a machine's directory into a profile, which is
// converted to lcov records (lines and functions, from the sources of
// the Go module, found by its go.mod); the machines' directories are
// also merged (`go tool covdata merge`) and rendered with `go tool cover
// -html`.
//
// Every machine's tracefile covers the same code: every instrumented
// file that any machine ran, with zero counts where that machine did not
// run it. So percentages compare across machines, and the combined
// tracefile (lcov -a of the machines') is never below any machine's.
package coverage
