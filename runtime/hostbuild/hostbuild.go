// Package hostbuild runs the build steps of a test on the host: a shell
// command that makes files (certificates, keys, fixtures) into an output
// directory, as a NixOS test builds them with a derivation. The output is
// cached by the content of everything the step declares it depends on
// (its name, command, environment and input files), so a step whose
// inputs have not changed is not run again: its directory is reused.
//
// Output directories live in <cache>/build/<key>. A step builds into a
// temporary directory beside it and renames it into place when the
// command succeeded, so several vmtest processes may run the same step at
// once: the first rename wins, and the others use its directory. Nothing
// here deletes old entries.
package hostbuild

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vmtest/vmtest/internal/hostcmd"
	"github.com/vmtest/vmtest/vm/cache"
)

// format changes whenever what a key covers changes.
const format = "vmtest-build-1"

// Step is one build step.
type Step struct {
	Name    string   // names the step in logs and in its key
	Command string   // run by /bin/sh -c with $out the output directory
	Dir     string   // the command's working directory (absolute)
	Inputs  []string // files and directories whose contents the output depends on (absolute)
	Env     []string // KEY=VALUE added to the host's environment
}

// Key returns the content key of the step: a hash of its name, command,
// environment and the contents of its inputs (for a directory, every file
// below it, with names and modes). An input that does not exist is an
// error. The host's programs and environment are not part of it.
func (s Step) Key() (string, error) {
	parts := [][]byte{[]byte(format), []byte(s.Name), []byte(s.Command)}
	env := slices.Sorted(slices.Values(s.Env))
	for _, e := range env {
		parts = append(parts, []byte(e))
	}
	for _, in := range s.Inputs {
		h, err := treeHash(in)
		if err != nil {
			return "", fmt.Errorf("input %s: %w", in, unwrapPath(err))
		}
		parts = append(parts, []byte(in), []byte(h))
	}
	return cache.Key(parts...), nil
}

// treeHash hashes the file or directory at path: each entry's path below
// it, type and permission bits, and a file's contents or a link's target.
func treeHash(root string) (string, error) {
	var parts [][]byte
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		parts = append(parts, []byte(rel), []byte(info.Mode().String()))
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			parts = append(parts, []byte(target))
		case d.Type().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			parts = append(parts, []byte(cache.Key(data)))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return cache.Key(parts...), nil
}

// Result is what a step left.
type Result struct {
	Dir    string // its output directory
	Key    string
	Cached bool // the directory was there: the command did not run
}

// Path returns the output directory the step has or would have under
// cacheDir, without running anything.
func Path(cacheDir string, s Step) (Result, error) {
	key, err := s.Key()
	if err != nil {
		return Result{}, err
	}
	dir := filepath.Join(cacheDir, "build", key)
	_, err = os.Stat(dir)
	return Result{Dir: dir, Key: key, Cached: err == nil}, nil
}

// Run returns the step's output directory under cacheDir, running its
// command first unless that directory exists. The command's output
// (stdout and stderr together) goes to output; it is killed when ctx
// ends. A command that fails leaves nothing behind, and its error says
// how it ended.
func Run(ctx context.Context, cacheDir string, s Step, output io.Writer) (Result, error) {
	r, err := Path(cacheDir, s)
	if err != nil || r.Cached {
		return r, err
	}
	if err := os.MkdirAll(filepath.Dir(r.Dir), 0o700); err != nil {
		return r, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(r.Dir), r.Key+".tmp-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(tmp) // gone once renamed
	cmd := hostcmd.Command(ctx, "/bin/sh", "-c", s.Command)
	cmd.Dir = s.Dir
	cmd.Env = append(append(os.Environ(), s.Env...), "out="+tmp)
	cmd.Stdout, cmd.Stderr = output, output
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return r, fmt.Errorf("%w", context.Cause(ctx))
		}
		return r, fmt.Errorf("its command %w", describe(err))
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return r, err
	}
	if err := os.Rename(tmp, r.Dir); err != nil {
		if _, serr := os.Stat(r.Dir); serr == nil {
			return Result{Dir: r.Dir, Key: r.Key, Cached: true}, nil // another process won
		}
		return r, err
	}
	return r, nil
}

// describe says how a command ended: "failed with exit status 2".
func describe(err error) error {
	msg := err.Error()
	if strings.HasPrefix(msg, "exit status") || strings.HasPrefix(msg, "signal:") {
		return fmt.Errorf("failed with %w", err)
	}
	return err
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
