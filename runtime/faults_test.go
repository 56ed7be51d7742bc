package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeSwitch records what the network asks of its switch.
type fakeSwitch struct{ calls []string }

func (f *fakeSwitch) Attach(vlan int, name string) (string, error) {
	f.calls = append(f.calls, fmt.Sprintf("attach %d %s", vlan, name))
	return "", nil
}
func (f *fakeSwitch) Block(name string, blocked bool) {
	f.calls = append(f.calls, fmt.Sprintf("block %s %v", name, blocked))
}
func (f *fakeSwitch) Partition(groups [][]string) error {
	f.calls = append(f.calls, fmt.Sprintf("partition %v", groups))
	return nil
}
func (f *fakeSwitch) Heal() { f.calls = append(f.calls, "heal") }
func (f *fakeSwitch) SetLink(from, to string, l Link) error {
	f.calls = append(f.calls, fmt.Sprintf("link %s->%s %s", from, to, l))
	return nil
}
func (f *fakeSwitch) Capture(vlan int, path string) error {
	f.calls = append(f.calls, fmt.Sprintf("capture %d %s", vlan, filepath.Base(path)))
	return nil
}
func (f *fakeSwitch) AttachVDE(vlan int, dir string) error {
	f.calls = append(f.calls, fmt.Sprintf("vde %d", vlan))
	return nil
}
func (f *fakeSwitch) Close() error { return nil }

// TestFaultsWaitForTheSwitch: faults set before the first boot apply, in
// order, when the switch is made; later ones at once. --pcap captures
// every vlan first.
func TestFaultsWaitForTheSwitch(t *testing.T) {
	sw := &fakeSwitch{}
	out := t.TempDir()
	n := New(Options{Name: "t", OutDir: out, NoPackageCheck: true, Capture: true, NewSwitch: func(string) Switch { return sw }})
	defer n.Close()
	a, b := NewSpec("a"), NewSpec("b")
	b.VLANs = []int{1, 3}
	vdeDir := t.TempDir()
	if err := n.AttachVDE(2, vdeDir); err != nil {
		t.Fatal(err)
	}
	if err := n.Define(t.Context(), []Spec{a, b}); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(n.Block("a", true))
	must(n.Partition([][]string{{"a"}, {"b"}}))
	must(n.SetLink("a", "b", Link{Latency: 50 * time.Millisecond}, true))
	if len(sw.calls) != 0 {
		t.Fatalf("the switch was used before it was made: %q", sw.calls)
	}
	if _, _, err := n.runDir(); err != nil {
		t.Fatal(err)
	}
	must(n.Heal())
	want := []string{
		"capture 1 vlan1.pcap", "capture 2 vlan2.pcap", "capture 3 vlan3.pcap",
		"vde 2", "block a true", "partition [[a] [b]]", "link a->b latency 50ms", "link b->a latency 50ms",
		"heal",
	}
	if !slices.Equal(sw.calls, want) {
		t.Errorf("switch calls:\n%s\nwant:\n%s", strings.Join(sw.calls, "\n"), strings.Join(want, "\n"))
	}
	if fi, err := os.Stat(filepath.Join(out, "net")); err != nil || !fi.IsDir() {
		t.Errorf("net/ in the output directory: %v", err)
	}

	for _, tc := range []struct {
		err  error
		want string
	}{
		{n.Block("zzz", true), `no machine "zzz"`},
		{n.Partition([][]string{{"a"}, {"a"}}), "machine a is in two groups"},
		{n.SetLink("a", "b", Link{Loss: 2}, false), "loss 2 is not a probability between 0 and 1"},
		{n.Capture([]int{255}), "vlan 255 is out of range 1..254"},
		{n.AttachVDE(2, vdeDir), "vlan 2 is attached to a vde_switch already"},
		{n.AttachVDE(4, "/nonexistent"), "no vde_switch at /nonexistent"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("got %v, want %q", tc.err, tc.want)
		}
	}
}

// TestFaultsInDeclareOnly: a network that never boots records nothing and
// fails nothing.
func TestFaultsInDeclareOnly(t *testing.T) {
	n := New(Options{Name: "t", DeclareOnly: true, NoPackageCheck: true})
	defer n.Close()
	if err := n.Define(t.Context(), []Spec{NewSpec("a")}); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{n.Block("a", true), n.Heal(), n.Capture(nil), n.SetLink("a", "", Link{Rate: 1000}, true)} {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestAddressConflicts(t *testing.T) {
	a, b := NewSpec("a"), NewSpec("b")
	b.Addresses = map[int][]string{1: {"192.168.1.1/24"}}
	if err := checkSpecs([]Spec{a, b}); err == nil || err.Error() != "machines a and b both have address 192.168.1.1 on vlan 1; give one of them another in addresses" {
		t.Errorf("got %v", err)
	}
	b.Addresses = map[int][]string{1: {"2001:db8:1::1/64"}}
	if err := checkSpecs([]Spec{a, b}); err == nil || !strings.Contains(err.Error(), "both have address 2001:db8:1::1 on vlan 1") {
		t.Errorf("got %v", err)
	}
	b.Addresses = map[int][]string{1: {"10.0.0.2"}}
	if err := checkSpecs([]Spec{a, b}); err != nil {
		t.Error(err)
	}
	if got := NICAddrs(1, 2, b.Addresses); !slices.Equal(got, []string{"10.0.0.2/24", "2001:db8:1::2/64"}) {
		t.Errorf("NICAddrs = %q", got)
	}
	// Several of a family replace the computed one; an empty list leaves none.
	b.Addresses = map[int][]string{1: {"fd00::5/64", "10.0.0.2/24", "10.0.0.3/8", "fd00::6/64"}}
	if got := NICAddrs(1, 2, b.Addresses); !slices.Equal(got, []string{"10.0.0.2/24", "10.0.0.3/8", "fd00::5/64", "fd00::6/64"}) {
		t.Errorf("NICAddrs = %q", got)
	}
	if got := NICAddrs(1, 2, map[int][]string{1: {}}); len(got) != 0 {
		t.Errorf("NICAddrs of an empty list = %q", got)
	}
}
