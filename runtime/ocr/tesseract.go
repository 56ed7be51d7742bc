package ocr

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"os/exec"
	"strings"

	"github.com/vmtest/vmtest/internal/hostcmd"
)

// Options of Read. The zero value reads with DefaultScale and finds
// tesseract in PATH.
type Options struct {
	// Scale is how many times the screen is enlarged before tesseract
	// reads it (see DefaultScale); 0 means DefaultScale.
	Scale int
	// Tesseract is the program to run; "" means "tesseract" in PATH.
	Tesseract string
}

// InstallHint is the command that installs tesseract (with its English
// data) on Debian.
const InstallHint = "apt-get install -y tesseract-ocr"

// ErrNoTesseract is returned (wrapped) when the tesseract program is not
// installed.
var ErrNoTesseract = errors.New("reading the screen needs tesseract on the host")

// Read returns the text tesseract reads on img (a screenshot): one line
// per line of text, blank lines dropped, trailing white space removed.
// A screen without ink reads as "" without running tesseract. It blocks
// while tesseract runs (about a second for a full screen of console text at
// 3× on this class of host); when ctx is done, tesseract is killed and
// Read returns ctx's cause.
func Read(ctx context.Context, img image.Image, opts Options) (string, error) {
	path, err := opts.program()
	if err != nil {
		return "", err
	}
	scale := opts.Scale
	if scale == 0 {
		scale = DefaultScale
	}
	g, ok := Prepare(img, scale)
	if !ok {
		return "", nil
	}
	if err := context.Cause(ctx); err != nil {
		return "", err
	}
	// The image goes in on stdin as PGM: no file, no PNG compression.
	// --dpi: screens have no resolution; 300 is what tesseract's models
	// expect of text this size. --psm 3: find the blocks of text on the
	// page, in any layout (windows side by side). OMP_THREAD_LIMIT=1: its
	// threads would only compete with the guests' for the host's cores.
	cmd := hostcmd.Command(ctx, path, "stdin", "stdout", "-l", "eng", "--psm", "3", "--dpi", "300")
	cmd.Env = append(os.Environ(), "OMP_THREAD_LIMIT=1")
	cmd.Stdin = bytes.NewReader(pgm(g))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", context.Cause(ctx)
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		} else {
			msg = lastLine(msg) + " (" + err.Error() + ")"
		}
		return "", fmt.Errorf("tesseract failed: %s; check it with: tesseract --list-langs (it needs eng; %s)", msg, InstallHint)
	}
	return clean(stdout.String()), nil
}

// Check returns the error Read would return because tesseract is
// missing, without reading anything: a caller checks it before it
// begins to poll a screen.
func Check(opts Options) error {
	_, err := opts.program()
	return err
}

// program returns the path of the tesseract to run.
func (o Options) program() (string, error) {
	prog := o.Tesseract
	if prog == "" {
		prog = "tesseract"
	}
	path, err := exec.LookPath(prog)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("%w, %s not found in PATH; install it with: %s", ErrNoTesseract, prog, InstallHint)
		}
		return "", fmt.Errorf("running %s: %w", prog, err)
	}
	return path, nil
}

// pgm encodes g as a binary PGM (P5).
func pgm(g *image.Gray) []byte {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	var b bytes.Buffer
	b.Grow(w*h + 32)
	fmt.Fprintf(&b, "P5\n%d %d\n255\n", w, h)
	for y := range h {
		b.Write(g.Pix[y*g.Stride : y*g.Stride+w])
	}
	return b.Bytes()
}

// clean drops tesseract's blank lines and form feed and the white space
// at the ends of lines.
func clean(s string) string {
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := strings.TrimRight(strings.ReplaceAll(sc.Text(), "\f", ""), " \t\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
