package lang_test

import (
	"path/filepath"
	"testing"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/lang/langtest"
)

// stand-ins for builtins, so that suggestions can draw on predeclared names
var predeclared = starlark.StringDict{
	"wait_for": starlark.NewBuiltin("wait_for", func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
		return starlark.None, nil
	}),
}

func TestTestdata(t *testing.T) {
	libpath, err := filepath.Abs("testdata/libpath")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("VMTEST_PATH", libpath)
	langtest.RunTestdata(t, "testdata/*.star", predeclared)
}

// TestBadInput runs the corpus of bad inputs: each chunk of
// testdata/bad/*.star fails with exactly the message beside it.
func TestBadInput(t *testing.T) {
	langtest.RunTestdata(t, "testdata/bad/*.star", predeclared)
}
