package runtime

import (
	"slices"
	"testing"
)

func TestWindows(t *testing.T) {
	tree := `
xwininfo: Window id: 0x3c8 (the root window) (has no name)

  Root window id: 0x3c8 (the root window) (has no name)
  Parent window id: 0x0 (none)
     2 children:
     0x600022 "vmtest-term": ("xterm" "XTerm")  1024x768+0+0  +0+0
        1 child:
        0x600023 (has no name): ()  1024x768+0+0  +0+0
     0x400001 "a "quoted": name": ("xclock" "XClock")  164x164+0+0  +0+0
`
	got := Windows(tree)
	want := []Window{{"0x600022", "vmtest-term"}, {"0x400001", `a "quoted": name`}}
	if !slices.Equal(got, want) {
		t.Errorf("Windows = %q, want %q", got, want)
	}
	if d := describeWindows(got, []string{"vmtest-term"}); d != `windows last seen: "vmtest-term", "a \"quoted\": name"; not on the screen: "vmtest-term"` {
		t.Errorf("describeWindows = %s", d)
	}
	if d := describeWindows(nil, nil); d != "no named windows" {
		t.Errorf("describeWindows(nil) = %s", d)
	}
}
