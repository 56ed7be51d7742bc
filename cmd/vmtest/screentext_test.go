package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestRunScreenText runs testdata/run/screentext.star: text written on
// display machines' tty1, in the console's default font and in a large
// one, is read back by OCR with get_screen_text and wait_for_text, and a
// wait for text that never comes fails with the screen's text as last
// read. An unchanged screen is read at most twice (at both scales),
// however long the wait.
func TestRunScreenText(t *testing.T) {
	stdout, stderr, code := vmtest(t, []string{"NO_COLOR="}, "run", "--out", t.TempDir(), "testdata/run/screentext.star")
	failure := regexp.MustCompile(`testdata/run/screentext.star:29:18: machine.wait_for_text: big: no text on the screen matched /no such text/ within 8s \((1 reading|2 readings)\)\n` +
		`  text on the screen of big, as last read \(2 lines\):\n` +
		`    VMTEST OCR 42\n` +
		`    second line\n` +
		`  console of big \(last `)
	if code != exitFailure || !failure.MatchString(stdout) || strings.Count(stdout, "Traceback") != 1 {
		t.Fatalf("exit %d, want %d and only the failure %s\n%s\n%s", code, exitFailure, failure, stdout, stderr)
	}
	for _, want := range []string{"vga: read the screen: 1 line in ", "big: read the screen: 1 line in ", "vga: text /[VU]MTEST OCR 42/ on the screen after ", "big: text /second/ on the screen after "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}
