package main

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunX11 runs testdata/run/x11.star: an X server on a real guest's
// screen, a window waited for by name, keys typed into it that its shell
// runs, and the screen read back. The screenshot it leaves must show the
// xterm: mostly its white background, with dark text.
func TestRunX11(t *testing.T) {
	out := t.TempDir()
	stdout, stderr, code := vmtest(t, []string{"NO_COLOR="}, "run", "--out", out, "testdata/run/x11.star")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	img := readPNG(t, filepath.Join(out, "x11", "xterm.png"))
	b := img.Bounds()
	var light, dark int
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			switch l := (r + g + bl) / 3 >> 8; {
			case l > 200:
				light++
			case l < 60:
				dark++
			}
		}
	}
	total := b.Dx() * b.Dy()
	if b.Dx() != 1024 || b.Dy() != 768 || light < total/2 || dark < 200 {
		t.Errorf("screenshot %dx%d has %d light and %d dark pixels of %d: want 1024x768, mostly light (the xterm) with some dark (its text)", b.Dx(), b.Dy(), light, dark, total)
	}
}

// readPNG returns the image of the PNG file path, or fails t.
func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// TestRunX11Fails runs testdata/run/x11fail.star: an X server that cannot
// start fails wait_for_x when it exits, not at the timeout, and the
// report shows the server's own error.
func TestRunX11Fails(t *testing.T) {
	stdout, stderr, code := vmtest(t, []string{"NO_COLOR="}, "run", "--out", t.TempDir(), "testdata/run/x11fail.star")
	want := "machine.wait_for_x: x: job x11 failed: it exited with status 1 before it was ready"
	if code != exitFailure || !strings.Contains(stdout, want) || !strings.Contains(stdout, "(EE) Server is already active for display 0") {
		t.Fatalf("exit %d, want %d with %q and the server's error\n%s\n%s", code, exitFailure, want, stdout, stderr)
	}
}
