package coverage

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fixture is C and Go programs built with instrumentation in a scratch
// directory, as a user's build would leave them: sources, .gcno files
// and binaries on the host.
type fixture struct {
	dir   string
	calc  string // the C program
	greet string // the Go program
	csrc  string // calc.c
	gomod string // the Go module's directory
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	if err := CheckTools(); err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: t.TempDir()}
	f.csrc = filepath.Join(f.dir, "src", "calc.c")
	f.gomod = filepath.Join(f.dir, "greet")
	copyTree(t, "testdata/c", filepath.Dir(f.csrc))
	copyTree(t, "testdata/greet", f.gomod)
	build := filepath.Join(f.dir, "build")
	f.calc, f.greet = filepath.Join(build, "calc"), filepath.Join(build, "greet")
	if err := os.MkdirAll(build, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "", nil, "gcc", "--coverage", "-O0", "-o", f.calc, f.csrc)
	run(t, f.gomod, []string{"GOWORK=off", "GOTOOLCHAIN=local", "GOFLAGS="}, "go", "build", "-cover", "-o", f.greet, ".")
	return f
}

// machine makes a machine's data directory and runs each command (argv)
// there with the coverage environment pointing into it.
func (f *fixture) machine(t *testing.T, name string, cmds ...[]string) Machine {
	t.Helper()
	dir := filepath.Join(f.dir, "machines", name)
	for _, d := range []string{"gcov", "go"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"GCOV_PREFIX=" + filepath.Join(dir, "gcov"), "GCOV_PREFIX_STRIP=0", "GOCOVERDIR=" + filepath.Join(dir, "go")}
	for _, c := range cmds {
		run(t, "", env, c[0], c[1:]...)
	}
	return Machine{Name: name, Dir: dir}
}

func run(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) options(t *testing.T, out string) Options {
	return Options{Test: "unit", Out: filepath.Join(f.dir, out), Work: filepath.Join(t.TempDir(), "work"), GoSearch: []string{f.gomod}}
}

// TestReport: three machines run different parts of a C and a Go
// program (one runs nothing); each machine's figures are of the same
// code, the combined ones above every machine's, and every file of the
// report is there.
func TestReport(t *testing.T) {
	f := newFixture(t)
	machines := []Machine{
		f.machine(t, "one", []string{f.calc, "add", "1", "2"}, []string{f.greet, "hello"}),
		f.machine(t, "two", []string{f.calc, "neg", "3"}, []string{f.greet, "bye"}),
		f.machine(t, "idle"),
	}
	machines[1].Partial = "its power was cut"
	o := f.options(t, "out")
	sum, err := Report(t.Context(), o, machines)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", sum.Text())
	byName := map[string]MachineSummary{}
	for _, m := range sum.Machines {
		byName[m.Name] = m
		if m.Lines.Total != sum.Combined.Lines.Total || m.Functions.Total != sum.Combined.Functions.Total {
			t.Errorf("%s: totals %d lines, %d functions; combined %d, %d: want the same code", m.Name, m.Lines.Total, m.Functions.Total, sum.Combined.Lines.Total, sum.Combined.Functions.Total)
		}
		if m.Name != "idle" && (m.Lines.Covered >= sum.Combined.Lines.Covered || m.Functions.Covered >= sum.Combined.Functions.Covered) {
			t.Errorf("%s: %+v is not below the combined %+v", m.Name, m.Totals, sum.Combined)
		}
	}
	if got := byName["one"].Data; !slices.Equal(got, []string{"gcov", "go"}) {
		t.Errorf("one: data %q", got)
	}
	if idle := byName["idle"]; len(idle.Data) != 0 || idle.Lines.Covered != 0 || idle.Partial {
		t.Errorf("idle: %+v", idle)
	}
	if two := byName["two"]; !two.Partial || two.Reason != "its power was cut" {
		t.Errorf("two: %+v", two)
	}
	// calc.c: 2 of 3 functions ran somewhere (main, add, neg: all 3);
	// greet: hello and bye and main ran, not the unknown-word path.
	if sum.Combined.Functions.Covered != sum.Combined.Functions.Total {
		t.Errorf("combined functions %+v: want all covered", sum.Combined.Functions)
	}
	for _, p := range []string{"one.info", "two.info", "idle.info", "combined.info", "summary.json", "html/index.html", "go/index.html", "go/profile.txt"} {
		if _, err := os.Stat(filepath.Join(o.Out, p)); err != nil {
			t.Error(err)
		}
	}
	var files []string
	for _, fs := range sum.Files {
		files = append(files, fs.Path)
	}
	if want := []string{filepath.Join(f.gomod, "main.go"), f.csrc}; !slices.Equal(files, want) {
		t.Errorf("files %q, want %q", files, want)
	}
	pages, _ := filepath.Glob(filepath.Join(o.Out, "html", "*", "*.gcov.html"))
	if len(pages) != 2 {
		t.Errorf("per-file pages %q, want calc.c's and main.go's", pages)
	}
	var js Summary
	data, _ := os.ReadFile(filepath.Join(o.Out, "summary.json"))
	if err := json.Unmarshal(data, &js); err != nil || js.Combined != sum.Combined || len(js.Machines) != 3 {
		t.Errorf("summary.json: %v\n%s", err, data)
	}
	html, _ := os.ReadFile(filepath.Join(o.Out, "go", "index.html"))
	if !strings.Contains(string(html), "example.com/greet/main.go") {
		t.Errorf("go/index.html does not show main.go")
	}
}

// TestReportBadInput: no data, uninstrumented programs, Go programs that
// never exited, missing sources and .gcno files each say what is wrong.
func TestReportBadInput(t *testing.T) {
	f := newFixture(t)

	t.Run("uninstrumented", func(t *testing.T) {
		m := f.machine(t, "plain", []string{"true"})
		_, err := Report(t.Context(), f.options(t, "plain"), []Machine{m, {Name: "never", Dir: ""}})
		var nd *NoDataError
		if !errors.As(err, &nd) || !strings.Contains(err.Error(), "no program on plain, never wrote coverage data") || !strings.Contains(err.Error(), "--coverage") {
			t.Errorf("got %v", err)
		}
		if _, err := os.Stat(filepath.Join(f.dir, "plain")); err == nil {
			t.Errorf("an empty report was written")
		}
	})

	t.Run("go-killed", func(t *testing.T) {
		m := f.machine(t, "killed")
		cmd := exec.Command(f.greet, "wait")
		cmd.Env = append(os.Environ(), "GOCOVERDIR="+filepath.Join(m.Dir, "go"))
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 8)
		out.Read(buf) // "waiting": the meta-data is written by then
		time.Sleep(100 * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		_, err := Report(t.Context(), f.options(t, "killed"), []Machine{m})
		if err == nil || !strings.Contains(err.Error(), "started on killed, but none exited normally") {
			t.Errorf("got %v", err)
		}
	})

	t.Run("go-sources", func(t *testing.T) {
		m := f.machine(t, "g", []string{f.greet, "hello"})
		o := f.options(t, "gosrc")
		o.GoSearch = []string{t.TempDir()}
		_, err := Report(t.Context(), o, []Machine{m})
		var se *SourcesError
		if !errors.As(err, &se) || se.Kind != "Go" || !slices.Equal(se.Files, []string{"example.com/greet/main.go"}) || !strings.Contains(err.Error(), o.GoSearch[0]) {
			t.Errorf("got %v", err)
		}
	})

	t.Run("c-sources", func(t *testing.T) {
		m := f.machine(t, "c", []string{f.calc, "add", "1", "2"})
		moved := f.csrc + ".moved"
		if err := os.Rename(f.csrc, moved); err != nil {
			t.Fatal(err)
		}
		defer os.Rename(moved, f.csrc)
		_, err := Report(t.Context(), f.options(t, "csrc"), []Machine{m})
		var se *SourcesError
		if !errors.As(err, &se) || se.Kind != "C/C++" || !slices.Equal(se.Files, []string{f.csrc}) {
			t.Errorf("got %v", err)
		}
	})

	t.Run("notes", func(t *testing.T) {
		m := f.machine(t, "n", []string{f.calc, "neg", "1"})
		notes, _ := filepath.Glob(filepath.Join(filepath.Dir(f.calc), "*.gcno"))
		if len(notes) != 1 {
			t.Fatalf("notes files %q", notes)
		}
		if err := os.Rename(notes[0], notes[0]+".moved"); err != nil {
			t.Fatal(err)
		}
		defer os.Rename(notes[0]+".moved", notes[0])
		_, err := Report(t.Context(), f.options(t, "notes"), []Machine{m})
		var mn *MissingNotesError
		if !errors.As(err, &mn) || !slices.Equal(mn.Files, notes) {
			t.Errorf("got %v", err)
		}
	})

	t.Run("combined-name", func(t *testing.T) {
		_, err := Report(t.Context(), f.options(t, "name"), []Machine{{Name: "combined"}})
		if err == nil || !strings.Contains(err.Error(), "rename it") {
			t.Errorf("got %v", err)
		}
	})
}
