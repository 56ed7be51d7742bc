package runtime

import (
	"slices"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/runtime/coverage"
	"github.com/vmtest/vmtest/vm/wire"
)

// TestCoverageDefine: a network with coverage on checks, before anything
// boots, that no machine takes the combined tracefile's name and that the
// host has the report's tools (not in declaration-only mode, which lists
// what a host needs); commands on its machines get the coverage
// environment after their own.
func TestCoverageDefine(t *testing.T) {
	spec := func(name string, cov bool) Spec {
		s := NewSpec(name)
		s.Coverage = cov
		s.Env = []string{"A=1"}
		s.Jobs = []wire.Job{{Name: "daemon", Env: []string{"B=2"}}}
		return s
	}
	n := New(Options{NoPackageCheck: true, Coverage: true})
	defer n.Close()
	if err := n.Define(t.Context(), []Spec{spec("combined", false)}); err == nil || !strings.Contains(err.Error(), `no machine may be called "combined"`) {
		t.Errorf("a machine called combined: %v", err)
	}

	t.Setenv("PATH", t.TempDir())
	n = New(Options{NoPackageCheck: true})
	defer n.Close()
	if err := n.Define(t.Context(), []Spec{spec("a", true)}); err == nil || !strings.Contains(err.Error(), "install with: apt-get install -y lcov gcc") {
		t.Errorf("without lcov: %v", err)
	}
	n = New(Options{NoPackageCheck: true, DeclareOnly: true})
	defer n.Close()
	if err := n.Define(t.Context(), []Spec{spec("a", true)}); err != nil {
		t.Errorf("declaration only: %v", err)
	}
	n = New(Options{NoPackageCheck: true})
	defer n.Close()
	if err := n.Define(t.Context(), []Spec{spec("a", false), spec("b", true)}); err == nil {
		t.Error("one machine with coverage: the tools were not checked")
	}

	n = New(Options{NoPackageCheck: true, DeclareOnly: true})
	defer n.Close()
	if err := n.Define(t.Context(), []Spec{spec("plain", false), spec("cov", true)}); err != nil {
		t.Fatal(err)
	}
	if got := n.Machine("plain").env(); !slices.Equal(got, []string{"A=1"}) {
		t.Errorf("plain: env %q", got)
	}
	if got, want := n.Machine("cov").env(), append([]string{"A=1"}, coverage.Env()...); !slices.Equal(got, want) {
		t.Errorf("cov: env %q, want %q", got, want)
	}
	// Jobs get the coverage environment too, on top of their own.
	if got := n.Machine("plain").jobs()[0].Env; !slices.Equal(got, []string{"B=2"}) {
		t.Errorf("plain: job env %q", got)
	}
	if got, want := n.Machine("cov").jobs()[0].Env, append([]string{"B=2"}, coverage.Env()...); !slices.Equal(got, want) {
		t.Errorf("cov: job env %q, want %q", got, want)
	}
	if got := joinNames([]string{"a", "b", "c"}); got != "a, b and c" {
		t.Errorf("joinNames: %q", got)
	}
}
