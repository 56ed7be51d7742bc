package coverage

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vmtest/vmtest/internal/hostcmd"
)

// goData is what a Go program leaves in GOCOVERDIR: a meta-data file per
// binary (written when it starts) and a counter file per run (written
// when it exits).
type goData struct {
	meta, counters []string // base names
}

// goFiles lists the covdata files in dir; a missing dir has none.
func goFiles(dir string) (goData, error) {
	var d goData
	if dir == "" {
		return d, nil
	}
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return d, nil
	}
	if err != nil {
		return d, err
	}
	for _, e := range entries {
		switch n := e.Name(); {
		case !e.Type().IsRegular():
		case strings.HasPrefix(n, "covmeta."):
			d.meta = append(d.meta, n)
		case strings.HasPrefix(n, "covcounters."):
			d.counters = append(d.counters, n)
		}
	}
	return d, nil
}

// goCmd runs the go command in dir with args, with a local toolchain only
// (never a download) and the user's GOFLAGS out of the way.
func goCmd(ctx context.Context, goBin, dir string, env []string, args ...string) error {
	cmd := hostcmd.Command(ctx, goBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"GOTOOLCHAIN=local", "GOFLAGS="}, env...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// goInput makes the covdata input directory of one machine in work: its
// own files from dataDir plus the meta-data files of every binary any
// machine ran (allMeta: base name -> a path), so that the machine's
// profile lists the code it did not run too, with zero counts.
func goInput(work, dataDir string, own goData, allMeta map[string]string) (string, error) {
	in := filepath.Join(work, "covdata")
	if err := os.MkdirAll(in, 0o755); err != nil {
		return "", err
	}
	for _, n := range append(slices.Clone(own.meta), own.counters...) {
		if err := copyFile(filepath.Join(dataDir, n), filepath.Join(in, n)); err != nil {
			return "", err
		}
	}
	for n, p := range allMeta {
		if slices.Contains(own.meta, n) {
			continue
		}
		if err := copyFile(p, filepath.Join(in, n)); err != nil {
			return "", err
		}
	}
	return in, nil
}

// goProfile writes the text profile of the covdata directories in to out.
func goProfile(ctx context.Context, goBin, work string, in []string, out string) error {
	return goCmd(ctx, goBin, work, nil, "tool", "covdata", "textfmt", "-i="+strings.Join(in, ","), "-o="+out)
}

// goMerge merges the covdata directories in into out (created).
func goMerge(ctx context.Context, goBin, work string, in []string, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	return goCmd(ctx, goBin, work, nil, "tool", "covdata", "merge", "-i="+strings.Join(in, ","), "-o="+out)
}

// goHTML renders profile as HTML with go tool cover, which finds the
// sources of the profile's packages with go list: a go.work file in work
// that uses the module directories mods makes them resolvable wherever
// they are.
func goHTML(ctx context.Context, goBin, work, profile, out string, mods []string) error {
	version, err := hostcmd.Command(ctx, goBin, "env", "GOVERSION").Output()
	if err != nil {
		return fmt.Errorf("go env GOVERSION: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "go %s\n", strings.TrimPrefix(strings.TrimSpace(string(version)), "go"))
	for _, m := range mods {
		fmt.Fprintf(&b, "use %q\n", m)
	}
	gowork := filepath.Join(work, "go.work")
	if err := os.WriteFile(gowork, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return goCmd(ctx, goBin, work, []string{"GOWORK=" + gowork}, "tool", "cover", "-html="+profile, "-o="+out)
}
