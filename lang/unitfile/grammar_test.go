package unitfile

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	src := "# a comment\n; another\n\n[Unit]\nDescription=The  test   service \n After = network.target\n\n[Service]\nExecStart=/bin/echo a \\\n  b \\\n c\nEnvironment=\"A=1\" B=2\nEmpty=\nPath=C:\\dir\n[Install]\nWantedBy=multi-user.target"
	got, err := parse("t.service", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Section{
		{"Unit", []Assignment{{"Description", "The  test   service", "t.service", 5}, {"After", "network.target", "t.service", 6}}},
		{"Service", []Assignment{
			{"ExecStart", "/bin/echo a    b   c", "t.service", 9},
			{"Environment", `"A=1" B=2`, "t.service", 12},
			{"Empty", "", "t.service", 13},
			{"Path", `C:\dir`, "t.service", 14},
		}},
		{"Install", []Assignment{{"WantedBy", "multi-user.target", "t.service", 16}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	for src, want := range map[string]string{
		"[Unit]\nDescription=x\nthis is not right\n": `t.service:3: "this is not right" is neither a [Section] header, a Key=Value assignment nor a comment`,
		"Description=x\n": "t.service:1: Description= is outside of any [Section]",
		"[Unit\nA=b\n":    `t.service:1: "[Unit" is neither`,
	} {
		if _, err := parse("t.service", []byte(src)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", src, err, want)
		}
	}
}
