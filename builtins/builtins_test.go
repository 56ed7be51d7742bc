package builtins_test

import (
	"testing"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/builtins"
	"github.com/vmtest/vmtest/lang/langtest"
	"github.com/vmtest/vmtest/runtime"
)

// TestTestdata runs the script-level tests. Each chunk gets a fresh
// script whose network stops at the first action (DeclareOnly), so
// declarations, argument errors and config resolution are checked
// without booting anything; packages are checked against a fixture dpkg
// status file that has coreutils and curl.
func TestTestdata(t *testing.T) {
	langtest.RunTestdataFunc(t, "testdata/*.star", declareOnly)
}

// TestBadInput runs the corpus of bad inputs: each chunk of
// testdata/bad/*.star fails with exactly the message beside its last
// line, before anything boots.
func TestBadInput(t *testing.T) {
	langtest.RunTestdataFunc(t, "testdata/bad/*.star", declareOnly)
}

// declareOnly returns the builtins of a fresh script whose network stops
// at the first action.
func declareOnly(t *testing.T) starlark.StringDict {
	net := runtime.New(runtime.Options{Name: "test", DeclareOnly: true, DpkgStatus: "testdata/dpkg/status"})
	t.Cleanup(func() { net.Close() })
	return builtins.New(net, builtins.Options{}).Globals()
}
