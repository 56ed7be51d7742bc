package runtime

import (
	"context"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAddresses(t *testing.T) {
	nums := HostNumbers([]string{"web", "db", "client"})
	if nums["client"] != 1 || nums["db"] != 2 || nums["web"] != 3 {
		t.Fatalf("host numbers %v, want client 1, db 2, web 3", nums)
	}
	v4, v6 := Addrs(10, 3)
	if v4 != "192.168.10.3/24" || v6 != "2001:db8:10::3/64" {
		t.Errorf("Addrs(10, 3) = %s, %s", v4, v6)
	}
	if m := MAC(2, 17); m != "52:54:00:12:02:11" {
		t.Errorf("MAC(2, 17) = %s", m)
	}
	if CheckVLAN(0) == nil || CheckVLAN(255) == nil || CheckVLAN(254) != nil {
		t.Error("CheckVLAN accepts 1..254 only")
	}
}

func TestHostsFile(t *testing.T) {
	specs := []Spec{NewSpec("web"), NewSpec("db"), {Name: "router", VLANs: []int{2, 1}}, {Name: "alone"}}
	names := []string{"web", "db", "router", "alone"}
	got := string(hostsFile(specs, HostNumbers(names)))
	want := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"192.168.1.4\tweb\n2001:db8:1::4\tweb\n" +
		"192.168.1.2\tdb\n2001:db8:1::2\tdb\n" +
		"192.168.2.3\trouter\n2001:db8:2::3\trouter\n"
	if got != want {
		t.Errorf("hosts file:\n%s\nwant:\n%s", got, want)
	}
}

func TestMissingPackages(t *testing.T) {
	status := filepath.Join(t.TempDir(), "status")
	os.WriteFile(status, []byte(`Package: curl
Status: install ok installed
Architecture: amd64
Description: a tool
 Package: continuation-is-not-a-package

Package: gone
Status: deinstall ok config-files

Package: held
Status: hold ok installed
Architecture: all
`), 0o644)
	missing, err := MissingPackages(status, []string{"curl", "curl:amd64", "curl:i386", "gone", "held", "continuation-is-not-a-package", "nope"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"curl:i386", "gone", "continuation-is-not-a-package", "nope"}; !slices.Equal(missing, want) {
		t.Errorf("missing %q, want %q", missing, want)
	}
	err = checkPackages(status, []Spec{{Name: "a", Packages: []string{"nope", "curl"}}, {Name: "b", Packages: []string{"nope", "gone"}}})
	var pe *PackagesError
	if !errors.As(err, &pe) || !strings.HasSuffix(err.Error(), "apt-get install -y gone nope") || !strings.Contains(err.Error(), "nope (wanted by a, b)") {
		t.Errorf("checkPackages: %v", err)
	}
	if _, err := MissingPackages(filepath.Join(t.TempDir(), "none"), []string{"x"}); err == nil {
		t.Error("a missing status file is not an error")
	}
}

func TestJUnit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "junit.xml")
	fail := errors.New("machine.succeed: web: command \"false\" failed\nmore")
	err := WriteJUnit(path, "demo", Result{Duration: 2 * time.Second, Err: fail},
		[]Result{{Name: "a", Duration: time.Second}, {Name: "a/b", Err: fail}},
		func(err error) string { return "REPORT " + err.Error() })
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	var doc junitSuites
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	s := doc.Suites[0]
	if s.Name != "demo" || s.Tests != 3 || s.Failures != 2 || len(s.Cases) != 3 {
		t.Fatalf("suite %+v", s)
	}
	if c := s.Cases[0]; c.Name != "demo" || c.Failure == nil || c.Failure.Message != `REPORT machine.succeed: web: command "false" failed` || !strings.HasPrefix(c.Failure.Text, "REPORT") {
		t.Errorf("whole-file case %+v", c)
	}
	if c := s.Cases[2]; c.Name != "a/b" || c.Failure == nil || s.Cases[1].Failure != nil {
		t.Errorf("subtest cases %+v", s.Cases)
	}
}

func TestErrorDetails(t *testing.T) {
	e := &Error{Machine: "web", Msg: `command "x" failed with exit status 2`, Command: "x", Status: "exit status 2",
		Stdout: "out\n", Stderr: "", Console: []string{"boot", "ready"}}
	want := "  machine: web\n  command: x\n  status:  exit status 2\n  stdout (last 1 lines):\n    out\n  console of web (last 2 lines):\n    boot\n    ready\n"
	if got := Details(errors.Join(errors.New("wrapped"), e)); got != want {
		t.Errorf("details:\n%s\nwant:\n%s", got, want)
	}
}

// TestErrorDetailsScreen: a wait for text on the screen shows the text
// it last read, whole, or says there was none.
func TestErrorDetailsScreen(t *testing.T) {
	e := &Error{Machine: "m", Msg: "no text on the screen matched /x/ within 5s (3 readings)", Screen: "login: root\nPassword:\n", ScreenRead: true,
		Console: []string{"ready"}}
	want := "  text on the screen of m, as last read (2 lines):\n    login: root\n    Password:\n  console of m (last 1 lines):\n    ready\n"
	if got := e.Details(); got != want {
		t.Errorf("details:\n%s\nwant:\n%s", got, want)
	}
	e.Screen = ""
	if got, want := e.Details(), "  text on the screen of m, as last read: none\n  console of m (last 1 lines):\n    ready\n"; got != want {
		t.Errorf("details:\n%s\nwant:\n%s", got, want)
	}
	e.ScreenRead = false
	if got, want := e.Details(), "  console of m (last 1 lines):\n    ready\n"; got != want {
		t.Errorf("details:\n%s\nwant:\n%s", got, want)
	}
}

func TestDeclareOnly(t *testing.T) {
	n := New(Options{DeclareOnly: true, NoPackageCheck: true})
	defer n.Close()
	if err := n.Define(t.Context(), []Spec{NewSpec("a"), NewSpec("b")}); err != nil {
		t.Fatal(err)
	}
	if err := n.Define(t.Context(), nil); err == nil {
		t.Error("a second Define is accepted")
	}
	if err := n.StartAll(context.Background()); !errors.Is(err, ErrDeclareOnly) {
		t.Errorf("StartAll: %v", err)
	}
	if _, err := n.Machine("a").Succeed(context.Background(), Command{Shell: "true"}); !errors.Is(err, ErrDeclareOnly) {
		t.Errorf("Succeed: %v", err)
	}
	dup := New(Options{})
	if err := dup.Define(t.Context(), []Spec{NewSpec("a"), NewSpec("a")}); err == nil || !strings.Contains(err.Error(), `duplicate machine name "a"`) {
		t.Errorf("duplicate: %v", err)
	}
}
