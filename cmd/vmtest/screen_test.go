package main

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunScreen runs testdata/run/screen.star, typing on a display
// machine's keyboard, with --display: the run prints the machine's VNC
// socket and writes a screenshot of the screen's size, with the typed
// text on it. The file's last line, a screenshot of the machine after it
// stopped, fails as it should.
func TestRunScreen(t *testing.T) {
	out := t.TempDir()
	stdout, stderr, code := vmtest(t, nil, "run", "--display", "--out", out, "testdata/run/screen.star")
	want := "testdata/run/screen.star:38:16: machine.screenshot: term: the machine is not running: start it first (start() or start_all()); a screen action does not boot it\n"
	if code != exitFailure || !strings.Contains(stdout, want) || strings.Count(stdout, "Traceback") != 1 {
		t.Fatalf("exit %d, want %d and only this failure: %s\n%s\n%s", code, exitFailure, want, stdout, stderr)
	}
	if !strings.Contains(stdout, "term: screen: VNC on unix socket /") || !strings.Contains(stdout, "/vnc.sock") {
		t.Errorf("--display printed no VNC socket:\n%s", stdout)
	}
	f, err := os.Open(filepath.Join(out, "screen", "typed.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1024 || b.Dy() != 768 {
		t.Errorf("the screenshot is %dx%d, want 1024x768", b.Dx(), b.Dy())
	}
	// Echoed text: a fair number of lit pixels, not a blank screen.
	lit := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, g, bl, _ := img.At(x, y).RGBA(); r+g+bl > 3*0x8000 {
				lit++
			}
		}
	}
	if lit < 500 {
		t.Errorf("the screenshot has %d lit pixels, want the typed text (500 or more)", lit)
	}
}
