package builtins_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/builtins"
	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/runtime"
	"github.com/vmtest/vmtest/stdlib"
)

// TestSpecExamples runs the examples of SPEC.md marked vmtest-example
// (a code block opened with "```python vmtest-example") as test files in
// declaration-only mode: each must run without an error up to its first
// action, its assertions holding. Nothing boots.
func TestSpecExamples(t *testing.T) {
	data, err := os.ReadFile("../SPEC.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	n := 0
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```python vmtest-example" {
			continue
		}
		start := i + 1
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
		}
		n++
		// Line numbers in errors are those of SPEC.md.
		src := strings.Repeat("\n", start) + strings.Join(lines[start:i], "\n")
		t.Run(fmt.Sprintf("line%d", start+1), func(t *testing.T) {
			net := runtime.New(runtime.Options{Name: "spec", DeclareOnly: true, NoPackageCheck: true})
			defer net.Close()
			script := builtins.New(net, builtins.Options{})
			loader := lang.New(lang.Config{Predeclared: script.Globals(), Stdlib: stdlib.FS()})
			_, err := loader.Exec(t.Context(), "SPEC.md", src)
			if err == nil {
				err = script.Finish(&starlark.Thread{Name: "finish"})
			}
			if err != nil && !errors.Is(err, runtime.ErrDeclareOnly) {
				t.Errorf("%s", lang.FormatError(err))
			}
		})
	}
	if n == 0 {
		t.Skip("SPEC.md has no vmtest-example yet")
	}
}
