package ocr

import (
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// needTesseract fails a test that reads real screens, saying why, when
// the host has no tesseract (make.sh deps installs it).
func needTesseract(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("tesseract"); err != nil {
		t.Fatalf("tesseract not installed (%s; ./make.sh deps does it): %v", InstallHint, err)
	}
}

func loadPNG(t testing.TB, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// TestReadScreens reads real screendumps of vmtest guests (QEMU's VGA,
// 1280×800): the text console (fbcon's 8×16 VGA font, light on dark; the
// same text in the kernel's Terminus 16×32, fbcon=font:TER16x32) and an
// X screen with a dark and a light xterm. Each must yield the
// lines listed; the error rate against the whole text (testdata/*.txt,
// what was printed) is logged, not asserted: it is tesseract's, and
// varies with its version.
func TestReadScreens(t *testing.T) {
	needTesseract(t)
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"console-login.png", []string{"screen login: root", "Login incorrect", "Main PID: 1234 (nginx)", "[OK] {json: true} <tag> 3.14159"}},
		{"console-services.png", []string{"OCR 42", "ssh 22/tcp # SSH Remote Login Protocol", "domain 53/tcp # Domain Name Server"}},
		{"console-terminus.png", []string{"screen login: root", "Welcome to vmtest!", "Main PID: 1234 (nginx)", "Active: active (running) since Sun 2026-11-22 03:05:19 UTC; 42s ago"}},
		{"x11-xterms.png", []string{"VMTEST OCR 42", "The quick brown fox jumps over the lazy dog", "user@host:~$ make check", "PASS: 12 of 12 tests"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			img := loadPNG(t, filepath.Join("testdata", tc.file))
			start := time.Now()
			got, err := Read(t.Context(), img, Options{})
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("the text read lacks %q:\n%s", w, got)
				}
			}
			if truth, err := os.ReadFile(filepath.Join("testdata", strings.TrimSuffix(tc.file, ".png")+".txt")); err == nil {
				t.Logf("%s: %.1f%% of characters wrong, read in %s", tc.file, 100*errorRate(got, string(truth)), took.Round(time.Millisecond))
			}
		})
	}
}

// TestEmptyConsoleReadsNothing: a console with nothing but its cursor
// (an underline) reads as "".
func TestEmptyConsoleReadsNothing(t *testing.T) {
	needTesseract(t)
	got, err := Read(t.Context(), loadPNG(t, "testdata/console-cursor.png"), Options{})
	if got != "" || err != nil {
		t.Fatalf("got %q, %v; want \"\"", got, err)
	}
}

// errorRate is the edit distance between got and want, white space
// collapsed, per character of want.
func errorRate(got, want string) float64 {
	a := []rune(strings.Join(strings.Fields(got), " "))
	b := []rune(strings.Join(strings.Fields(want), " "))
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return float64(prev[len(b)]) / float64(max(len(b), 1))
}

// fakeTesseract writes a shell script standing in for tesseract.
func fakeTesseract(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tesseract")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// uniform returns a w×h image of one colour.
func uniform(w, h int, c color.Color) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, c)
		}
	}
	return img
}

func TestBlankScreenRunsNoTesseract(t *testing.T) {
	fail := fakeTesseract(t, "echo should not run >&2; exit 1")
	for _, c := range []color.Color{color.Black, color.White, color.RGBA{0, 0, 170, 255}} {
		got, err := Read(t.Context(), uniform(320, 200, c), Options{Tesseract: fail})
		if got != "" || err != nil {
			t.Errorf("blank %v: got %q, %v; want \"\", nil", c, got, err)
		}
	}
}

func TestMissingTesseractSaysHowToInstall(t *testing.T) {
	_, err := Read(t.Context(), uniform(8, 8, color.Black), Options{Tesseract: "no-such-tesseract-here"})
	if err2 := Check(Options{Tesseract: "no-such-tesseract-here"}); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("Check says %v, Read %v", err2, err)
	}
	if !errors.Is(err, ErrNoTesseract) || !strings.Contains(err.Error(), "apt-get install -y tesseract-ocr") ||
		!strings.Contains(err.Error(), "no-such-tesseract-here not found in PATH") {
		t.Fatalf("got %v", err)
	}
}

func TestTesseractFailureIsReported(t *testing.T) {
	bad := fakeTesseract(t, "cat > /dev/null; echo 'Error opening data file /usr/share/tesseract-ocr/5/tessdata/eng.traineddata' >&2; echo 'Failed loading language eng' >&2; exit 1")
	_, err := Read(t.Context(), loadPNG(t, "testdata/console-login.png"), Options{Tesseract: bad})
	if err == nil || !strings.Contains(err.Error(), "tesseract failed: Failed loading language eng (exit status 1)") ||
		!strings.Contains(err.Error(), "tesseract --list-langs") {
		t.Fatalf("got %v", err)
	}
}

// TestCancelKillsTesseract: a tesseract that hangs is killed when the
// context is done, and Read returns the context's cause at once.
func TestCancelKillsTesseract(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	hang := fakeTesseract(t, "echo $$ > "+pidFile+".tmp && mv "+pidFile+".tmp "+pidFile+"; exec sleep 60")
	cause := errors.New("test says stop")
	ctx, cancel := context.WithCancelCause(t.Context())
	// Cancelled once it runs, however long a loaded host takes to start it.
	go func() {
		for {
			if _, err := os.Stat(pidFile); err == nil {
				cancel(cause)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	_, err := Read(ctx, loadPNG(t, "testdata/console-login.png"), Options{Tesseract: hang})
	if !errors.Is(err, cause) {
		t.Fatalf("got %v, want %v", err, cause)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/proc/" + strings.TrimSpace(string(data))); err == nil {
		t.Errorf("tesseract (pid %s) still runs", strings.TrimSpace(string(data)))
	}
}

// TestCleanOutput: what tesseract prints becomes lines without blank
// ones, form feeds or trailing spaces.
func TestCleanOutput(t *testing.T) {
	echo := fakeTesseract(t, `cat > /dev/null; printf 'first line  \n\n\nsecond\t\n \n\f'`)
	got, err := Read(t.Context(), loadPNG(t, "testdata/console-login.png"), Options{Tesseract: echo})
	if err != nil || got != "first line\nsecond\n" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// TestInputIsThePreparedImage: tesseract gets a PGM of the cropped,
// enlarged screen.
func TestInputIsThePreparedImage(t *testing.T) {
	out := filepath.Join(t.TempDir(), "in.pgm")
	keep := fakeTesseract(t, "cat > "+out)
	img := uniform(200, 100, color.Black)
	for y := 40; y < 56; y++ { // a white bar 8×16 at (10, 40): one glyph cell
		for x := 10; x < 18; x++ {
			img.Set(x, y, color.White)
		}
	}
	if _, err := Read(t.Context(), img, Options{Tesseract: keep, Scale: 2}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// Cropped to the ink and 16 pixels around it, within the screen:
	// x 0..34, y 24..72; then doubled.
	if want := "P5\n68 96\n255\n"; !strings.HasPrefix(string(data), want) || len(data) != len(want)+68*96 {
		t.Fatalf("tesseract got %q... (%d bytes), want %q and %d pixels", data[:min(len(data), 16)], len(data), want, 68*96)
	}
}

// TestPrepareTurnsEveryBackgroundLight: text on a dark and on a light
// window of the same screen both come out dark on light, including text
// right at a window's edge.
func TestPrepareTurnsEveryBackgroundLight(t *testing.T) {
	img := uniform(200, 100, color.Black)
	for y := 10; y < 90; y++ { // a light window on the right half
		for x := 100; x < 190; x++ {
			img.Set(x, y, color.White)
		}
	}
	glyph := func(x0, y0 int, c color.Color) {
		for y := y0; y < y0+12; y++ {
			img.Set(x0, y, c)
			img.Set(x0+1, y, c)
		}
	}
	glyph(40, 40, color.White)  // light text on the dark desktop
	glyph(101, 40, color.Black) // dark text touching the window's edge
	glyph(150, 40, color.Black) // dark text inside the window
	g, ok := Prepare(img, 1)
	if !ok {
		t.Fatal("no ink found")
	}
	at := func(x, y int) uint8 { return g.GrayAt(x, y).Y }
	for _, p := range []image.Point{{40, 45}, {101, 45}, {150, 45}} {
		if v := at(p.X, p.Y); v >= inkLevel {
			t.Errorf("text at %v is %d, want dark", p, v)
		}
	}
	// g is cropped to the ink, x 24..168 and y 24..68, coordinates kept.
	for _, p := range []image.Point{{30, 30}, {60, 45}, {103, 45}, {120, 30}, {99, 45}} {
		if v := at(p.X, p.Y); v < inkLevel {
			t.Errorf("background at %v is %d, want light", p, v)
		}
	}
}

func TestUnchangedIgnoresACursorBlink(t *testing.T) {
	a := loadPNG(t, "testdata/console-login.png")
	b := loadPNG(t, "testdata/console-login.png")
	if !Unchanged(a, b) {
		t.Fatal("the same screen is changed")
	}
	rgba, ok := b.(*image.RGBA)
	if !ok {
		t.Fatalf("screendumps decode as %T", b)
	}
	set := func(x0, y0, w, h int) *image.RGBA {
		c := image.NewRGBA(rgba.Rect)
		copy(c.Pix, rgba.Pix)
		for y := y0; y < y0+h; y++ {
			for x := x0; x < x0+w; x++ {
				c.Set(x, y, color.White)
			}
		}
		return c
	}
	if !Unchanged(a, set(600, 500, 8, 2)) {
		t.Error("an underline cursor's blink counts as a change")
	}
	if Unchanged(a, set(600, 500, 8, 16)) {
		t.Error("a new glyph cell does not count as a change")
	}
	if Unchanged(set(0, 700, 1, 1), set(600, 500, 8, 2)) {
		t.Error("changes far apart count as a cursor's blink")
	}
	if Unchanged(a, uniform(1280, 801, color.Black)) {
		t.Error("screens of different sizes are the same")
	}
}
