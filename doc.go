// Package vmtest is the root of the vmtest module: system tests that need
// several machines, root or a network topology, written as one Starlark
// file and run in QEMU guests that share the host's files.
//
// See README.md for the quick start and SPEC.md for the reference.
package vmtest
