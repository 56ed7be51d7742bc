package coverage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/vmtest/vmtest/internal/hostcmd"
)

// Machine is the coverage data collected from one machine.
type Machine struct {
	Name string
	// Dir holds what the machine left in GuestDir: gcov/ and go/ below
	// it. "", or a directory that does not exist, holds nothing.
	Dir string
	// Partial, if not "", says why the data may be incomplete.
	Partial string
}

// sub returns the directory of one kind of data ("gcov", "go"), "" if
// nothing was collected.
func (m Machine) sub(kind string) string {
	if m.Dir == "" {
		return ""
	}
	return filepath.Join(m.Dir, kind)
}

// Options say what a report is about and where it goes.
type Options struct {
	// Test is the test's name: the title of the HTML report.
	Test string
	// Out is the coverage directory (created): tracefiles, summary.json,
	// html/ and go/.
	Out string
	// Work is a scratch directory (created), which the caller removes.
	Work string
	// GoSearch are the directories from which the sources of Go modules
	// are found (see findGoModules): the test file's directory.
	GoSearch []string
}

// Combined is the name of the combined tracefile (combined.info); no
// machine may have it.
const Combined = "combined"

// NoDataError says that coverage was on but no machine's programs wrote
// coverage data.
type NoDataError struct {
	Machines []string
	// GoStarted lists the machines where Go programs built with -cover
	// started (they wrote meta-data) but none exited normally.
	GoStarted []string
}

func (e *NoDataError) Error() string {
	if len(e.GoStarted) > 0 {
		return fmt.Sprintf("coverage: Go programs built with -cover started on %s, but none exited normally, so none wrote its counters; "+
			"at the end of a run vmtest stops every program with SIGTERM: have them exit on it (signal.NotifyContext), rather than die of it",
			strings.Join(e.GoStarted, ", "))
	}
	return fmt.Sprintf("coverage: no program on %s wrote coverage data, so there is no report. Were the programs built with instrumentation "+
		"(gcc/g++ --coverage, go build -cover)? An uninstrumented program writes nothing. Instrumented ones write their data when they exit: "+
		"one killed by a signal (SIGKILL, or SIGTERM without a handler that exits) writes nothing",
		strings.Join(e.Machines, ", "))
}

// Report reads the data of machines and writes the report into o.Out: a
// tracefile per machine (<name>.info) and combined.info, html/ by
// genhtml, go/ (merged covdata, profile.txt and go tool cover's
// index.html) when there is Go data, and summary.json. It fails with a
// *NoDataError when no machine has data, a *MissingNotesError when .gcno
// files are gone, a *SourcesError when sources are not on the host, and
// says which tool is missing.
func Report(ctx context.Context, o Options, machines []Machine) (*Summary, error) {
	if err := CheckTools(); err != nil {
		return nil, err
	}
	// The go command runs in scratch directories: every path absolute.
	var err error
	if o.Out, err = filepath.Abs(o.Out); err != nil {
		return nil, err
	}
	if o.Work, err = filepath.Abs(o.Work); err != nil {
		return nil, err
	}
	machines = slices.Clone(machines)
	for i := range machines {
		if machines[i].Dir == "" {
			continue // nothing collected: gcdaFiles and goFiles find nothing in ""
		}
		if machines[i].Dir, err = filepath.Abs(machines[i].Dir); err != nil {
			return nil, err
		}
	}
	names := make([]string, len(machines))
	for i, m := range machines {
		if m.Name == Combined {
			return nil, fmt.Errorf("coverage: a machine called %q would overwrite the combined tracefile %s.info; rename it", m.Name, m.Name)
		}
		names[i] = m.Name
	}

	// What each machine wrote.
	gcdas := make([][]string, len(machines))
	gos := make([]goData, len(machines))
	var objects []string
	allMeta := map[string]string{}
	var counters, goStarted []string
	for i, m := range machines {
		if gcdas[i], err = gcdaFiles(m.sub("gcov")); err != nil {
			return nil, fmt.Errorf("coverage: reading the data of %s: %w", m.Name, err)
		}
		objects = append(objects, gcdas[i]...)
		if gos[i], err = goFiles(m.sub("go")); err != nil {
			return nil, fmt.Errorf("coverage: reading the data of %s: %w", m.Name, err)
		}
		for _, n := range gos[i].meta {
			allMeta[n] = filepath.Join(m.sub("go"), n)
		}
		switch {
		case len(gos[i].counters) > 0:
			counters = append(counters, m.Name)
		case len(gos[i].meta) > 0:
			goStarted = append(goStarted, m.Name)
		}
	}
	slices.Sort(objects)
	objects = slices.Compact(objects)
	if len(objects) == 0 && len(counters) == 0 {
		return nil, &NoDataError{Machines: names, GoStarted: goStarted}
	}

	if err := os.MkdirAll(o.Work, 0o700); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	var baseline []byte
	if len(objects) > 0 {
		if err := checkNotes(objects); err != nil {
			return nil, err
		}
		if baseline, err = gcovBaseline(ctx, filepath.Join(o.Work, "gcov-baseline"), objects); err != nil {
			return nil, fmt.Errorf("coverage: %w", err)
		}
	}
	var goBin string
	var mods map[string]string
	if len(allMeta) > 0 {
		if goBin, err = goTool(); err != nil {
			return nil, fmt.Errorf("coverage: %w", err)
		}
		mods = findGoModules(o.GoSearch)
	}

	// Each machine's tracefile, concurrently.
	sum := &Summary{Test: o.Test, Machines: make([]MachineSummary, len(machines)), Tracefile: Combined + ".info", HTML: "html/index.html"}
	var (
		mu                  sync.Mutex
		missingC, missingGo []string
		usedMods            = map[string]bool{}
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.NumCPU())
	for i, m := range machines {
		g.Go(func() error {
			work := filepath.Join(o.Work, "machine-"+m.Name)
			var parts []string
			ms := MachineSummary{Name: m.Name, Partial: m.Partial != "", Reason: m.Partial, Tracefile: m.Name + ".info", Data: []string{}}
			if len(gcdas[i]) > 0 {
				ms.Data = append(ms.Data, "gcov")
			}
			if len(gos[i].counters) > 0 {
				ms.Data = append(ms.Data, "go")
			}
			if len(objects) > 0 {
				c := filepath.Join(work, "gcov", "c.info")
				if err := os.MkdirAll(filepath.Dir(c), 0o755); err != nil {
					return err
				}
				if err := captureGcov(gctx, filepath.Dir(c), m.Name, objects, m.sub("gcov"), gcdas[i], baseline, c); err != nil {
					return fmt.Errorf("coverage: the C/C++ data of %s: %w", m.Name, err)
				}
				t, err := readTracefile(c)
				if err != nil {
					return err
				}
				var gone []string
				for _, f := range t.files() {
					if _, err := os.Stat(f); err != nil {
						gone = append(gone, f)
					}
				}
				mu.Lock()
				missingC = append(missingC, gone...)
				mu.Unlock()
				parts = append(parts, c)
			}
			if len(allMeta) > 0 {
				gw := filepath.Join(work, "go")
				in, err := goInput(gw, m.sub("go"), gos[i], allMeta)
				if err != nil {
					return err
				}
				profile := filepath.Join(gw, "profile.txt")
				if err := goProfile(gctx, goBin, gw, []string{in}, profile); err != nil {
					return fmt.Errorf("coverage: the Go data of %s: %w", m.Name, err)
				}
				data, err := os.ReadFile(profile)
				if err != nil {
					return err
				}
				t, gone, err := goTracefile(data, func(name string) (string, bool) {
					p, ok := resolveGoFile(mods, name)
					if ok {
						mu.Lock()
						usedMods[moduleDirOf(mods, p)] = true
						mu.Unlock()
					}
					return p, ok
				})
				if err != nil {
					return fmt.Errorf("coverage: the Go data of %s: %w", m.Name, err)
				}
				mu.Lock()
				missingGo = append(missingGo, gone...)
				mu.Unlock()
				if len(t) > 0 {
					gi := filepath.Join(gw, "go.info")
					if err := writeTracefile(gi, t, testName(m.Name)); err != nil {
						return err
					}
					parts = append(parts, gi)
				}
			}
			if len(parts) == 0 {
				return nil // every source is missing: sourcesError says which
			}
			out := filepath.Join(o.Out, ms.Tracefile)
			if err := addTracefiles(gctx, parts, out); err != nil {
				return fmt.Errorf("coverage: the tracefile of %s: %w", m.Name, err)
			}
			t, err := readTracefile(out)
			if err != nil {
				return err
			}
			ms.Lines, ms.Functions = t.totals()
			sum.Machines[i] = ms
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := sourcesError(missingC, missingGo, o.GoSearch, mods); err != nil {
		return nil, err
	}

	// All machines together.
	var infos []string
	for _, m := range sum.Machines {
		infos = append(infos, filepath.Join(o.Out, m.Tracefile))
	}
	combined := filepath.Join(o.Out, sum.Tracefile)
	if err := addTracefiles(ctx, infos, combined); err != nil {
		return nil, fmt.Errorf("coverage: combining the machines: %w", err)
	}
	t, err := readTracefile(combined)
	if err != nil {
		return nil, err
	}
	sum.Combined.Lines, sum.Combined.Functions = t.totals()
	for _, f := range t.files() {
		fs := FileSummary{Path: f}
		fs.Lines, fs.Functions = tracefile{f: t[f]}.totals()
		sum.Files = append(sum.Files, fs)
	}
	if err := genhtml(ctx, combined, filepath.Join(o.Out, "html"), o.Test); err != nil {
		return nil, fmt.Errorf("coverage: %w", err)
	}
	if len(counters) > 0 {
		if err := goReport(ctx, goBin, o, machines, gos, usedMods); err != nil {
			return nil, fmt.Errorf("coverage: %w", err)
		}
		sum.GoHTML = "go/index.html"
	}
	if err := sum.write(filepath.Join(o.Out, "summary.json")); err != nil {
		return nil, err
	}
	return sum, nil
}

// sourcesError reports the source files that are not on the host, if
// any.
func sourcesError(missingC, missingGo, search []string, mods map[string]string) error {
	var errs []error
	if len(missingC) > 0 {
		slices.Sort(missingC)
		errs = append(errs, &SourcesError{Kind: "C/C++", Files: slices.Compact(missingC),
			Hint: "these are the paths the compiler recorded in the .gcno files: the sources must stay where they were when the programs were built"})
	}
	if len(missingGo) > 0 {
		slices.Sort(missingGo)
		var found []string
		for p, d := range mods {
			found = append(found, p+" in "+d)
		}
		slices.Sort(found)
		hint := fmt.Sprintf("Go names files by import path; vmtest looks them up in the modules whose go.mod is in %s, a parent directory, or up to %d levels below",
			strings.Join(search, ", "), goModuleDepth)
		if len(found) > 0 {
			hint += " (found: " + strings.Join(found, "; ") + ")"
		} else {
			hint += " (found none)"
		}
		errs = append(errs, &SourcesError{Kind: "Go", Files: slices.Compact(missingGo), Hint: hint})
	}
	return errors.Join(errs...)
}

// moduleDirOf returns the directory of the module in mods that holds the
// file path.
func moduleDirOf(mods map[string]string, path string) string {
	best := ""
	for _, d := range mods {
		if strings.HasPrefix(path, d+string(filepath.Separator)) && len(d) > len(best) {
			best = d
		}
	}
	return best
}

// writeTracefile writes t to path under the test name test.
func writeTracefile(path string, t tracefile, test string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := t.write(f, test); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// addTracefiles combines the tracefiles in into out with lcov -a (a
// single one is combined with itself, which normalises it).
func addTracefiles(ctx context.Context, in []string, out string) error {
	if len(in) == 0 {
		return errors.New("no tracefile to combine")
	}
	var args []string
	for _, f := range in {
		args = append(args, "--add-tracefile", f)
	}
	return lcov(ctx, append(args, "--output-file", out)...)
}

// genhtml renders the tracefile info as HTML into dir, a page per
// directory and per source file, with which machine ran each line.
func genhtml(ctx context.Context, info, dir, title string) error {
	cmd := hostcmd.Command(ctx, "genhtml", "--quiet", "--show-details", "--legend", "--title", title, "--output-directory", dir, info)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("genhtml: %w\n%s", err, lcovNoise(string(out)))
	}
	return nil
}

// goReport merges the Go data of every machine into o.Out/go: covdata/
// (for go tool covdata), profile.txt and index.html (go tool cover).
func goReport(ctx context.Context, goBin string, o Options, machines []Machine, gos []goData, usedMods map[string]bool) error {
	var in []string
	for i, m := range machines {
		if len(gos[i].counters) > 0 {
			in = append(in, m.sub("go"))
		}
	}
	dir := filepath.Join(o.Out, "go")
	work := filepath.Join(o.Work, "go-combined")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	merged := filepath.Join(dir, "covdata")
	if err := goMerge(ctx, goBin, work, in, merged); err != nil {
		return err
	}
	profile := filepath.Join(dir, "profile.txt")
	if err := goProfile(ctx, goBin, work, []string{merged}, profile); err != nil {
		return err
	}
	var mods []string
	for d := range usedMods {
		if d != "" {
			mods = append(mods, d)
		}
	}
	slices.Sort(mods)
	return goHTML(ctx, goBin, work, profile, filepath.Join(dir, "index.html"), mods)
}
