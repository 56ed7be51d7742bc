package coverage

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/vmtest/vmtest/internal/hostcmd"
)

// gcdaFiles returns the host paths of the .gcda files a machine wrote
// under its gcov directory dir (GCOV_PREFIX with GCOV_PREFIX_STRIP=0):
// dir/work/build/x.gcda is the data of the object /work/build/x.o, whose
// notes are /work/build/x.gcno. A missing dir has none.
func gcdaFiles(dir string) ([]string, error) {
	var files []string
	if dir == "" {
		return nil, nil
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && p == dir {
				return filepath.SkipDir
			}
			return err
		}
		if d.Type().IsRegular() && strings.HasSuffix(p, ".gcda") {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			files = append(files, "/"+filepath.ToSlash(rel))
		}
		return nil
	})
	return files, err
}

// gcnoOf returns the notes file that belongs with a .gcda file.
func gcnoOf(gcda string) string { return strings.TrimSuffix(gcda, ".gcda") + ".gcno" }

// MissingNotesError says that .gcno files of programs the machines ran
// are not on the host.
type MissingNotesError struct {
	Files []string // the .gcno paths, sorted
}

func (e *MissingNotesError) Error() string {
	return fmt.Sprintf("coverage: the machines ran programs built with --coverage whose notes files (.gcno, written next to the object files at build time) are not on the host:\n  %s\n"+
		"the data cannot be read without them: keep the build directory until the run ends, and do not rebuild during it",
		strings.Join(e.Files, "\n  "))
}

// checkNotes returns a *MissingNotesError for every .gcda of gcdas whose
// .gcno is not on the host.
func checkNotes(gcdas []string) error {
	var missing []string
	for _, g := range gcdas {
		if _, err := os.Stat(gcnoOf(g)); err != nil {
			missing = append(missing, gcnoOf(g))
		}
	}
	if len(missing) > 0 {
		return &MissingNotesError{Files: missing}
	}
	return nil
}

// gcovTree lays out, under tree, a copy of the .gcno of every object in
// objects (host .gcda paths) and, for those a machine has, the machine's
// .gcda from its gcov directory dataDir ("" for none): where lcov
// expects them, side by side at the object's path.
func gcovTree(tree string, objects []string, dataDir string, have []string) error {
	for _, g := range objects {
		dst := filepath.Join(tree, filepath.FromSlash(g))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := copyFile(gcnoOf(g), gcnoOf(dst)); err != nil {
			return err
		}
		if slices.Contains(have, g) {
			if err := copyFile(filepath.Join(dataDir, filepath.FromSlash(g)), dst); err != nil {
				return err
			}
		}
	}
	return nil
}

// lcov runs lcov with args and returns its error with what it printed.
func lcov(ctx context.Context, args ...string) error {
	cmd := hostcmd.Command(ctx, "lcov", append([]string{"-q"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("lcov %s: %w\n%s", strings.Join(args, " "), err, lcovNoise(out.String()))
	}
	return nil
}

// perlNoise matches warnings of lcov 1.16's own scripts under newer Perl,
// which say nothing about the data.
var perlNoise = regexp.MustCompile(`(?m)^Subroutine \w+ redefined at .*\n?`)

func lcovNoise(s string) string { return strings.TrimSpace(perlNoise.ReplaceAllString(s, "")) }

// testName is a machine name as an lcov test name, which allows only
// letters, digits and underscores.
func testName(machine string) string { return strings.ReplaceAll(machine, "-", "_") }

// captureGcov writes the C/C++ tracefile of one machine to out: every
// object in objects (the union over all machines) with zero counts, plus
// the counts of the .gcda files the machine has (have, from its gcov
// directory dataDir). baseline is the zero-count tracefile of objects.
func captureGcov(ctx context.Context, work, machine string, objects []string, dataDir string, have []string, baseline []byte, out string) error {
	test := testName(machine)
	base := filepath.Join(work, "baseline.info")
	// The baseline under this machine's test name, so lcov -a merges it
	// into the machine's record rather than keeping a test of its own.
	data := regexp.MustCompile(`(?m)^TN:.*$`).ReplaceAll(baseline, []byte("TN:"+test))
	if err := os.WriteFile(base, data, 0o644); err != nil {
		return err
	}
	if len(have) == 0 {
		return os.Rename(base, out)
	}
	tree := filepath.Join(work, "tree")
	if err := gcovTree(tree, objects, dataDir, have); err != nil {
		return err
	}
	counts := filepath.Join(work, "counts.info")
	if err := lcov(ctx, "--capture", "--directory", tree, "--test-name", test, "--output-file", counts); err != nil {
		return err
	}
	return lcov(ctx, "--add-tracefile", base, "--add-tracefile", counts, "--output-file", out)
}

// gcovBaseline returns the zero-count tracefile of objects (host .gcda
// paths, whose .gcno are read), made in work.
func gcovBaseline(ctx context.Context, work string, objects []string) ([]byte, error) {
	tree := filepath.Join(work, "tree")
	if err := gcovTree(tree, objects, "", nil); err != nil {
		return nil, err
	}
	out := filepath.Join(work, "baseline.info")
	if err := lcov(ctx, "--capture", "--initial", "--directory", tree, "--test-name", "baseline", "--output-file", out); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}
