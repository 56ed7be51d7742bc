package main

import (
	"image"
	"path/filepath"
	"testing"
)

// TestQuake runs examples/quake.star, the mission's headline example:
// an OpenArena server and a graphical client in two guests, the client
// entering the game, then cut off and timed out. Its screenshots must
// show the game: the client's 640x480 window in the middle of the
// screen, drawn in many colours, not a black or blank screen. (The map is
// dark: in four screenshots from 38% to over half of the window's pixels
// were lit, and over 1200 colours of 5 bits a channel were used.)
func TestQuake(t *testing.T) {
	out := t.TempDir()
	stdout, stderr, code := vmtest(t, []string{"NO_COLOR="}, "run", "--out", out, "../../examples/quake.star")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, name := range []string{"screen.png", "cut-off.png"} {
		img := readPNG(t, filepath.Join(out, "quake", name))
		// The window: 640x480 in the middle of the 1024x768 screen.
		window := image.Rect(192, 144, 832, 624)
		colours, lit := map[uint32]bool{}, 0
		for y := window.Min.Y; y < window.Max.Y; y++ {
			for x := window.Min.X; x < window.Max.X; x++ {
				r, g, b, _ := img.At(x, y).RGBA()
				colours[r>>11<<10|g>>11<<5|b>>11] = true // 5 bits a channel
				if r+g+b > 3*0x1000 {
					lit++
				}
			}
		}
		if len(colours) < 200 || lit < window.Dx()*window.Dy()/10 {
			t.Errorf("%s: the game window has %d colours and %d of %d pixels lit: want a drawn scene (at least 200 colours, a tenth lit)",
				name, len(colours), lit, window.Dx()*window.Dy())
		}
	}
}
