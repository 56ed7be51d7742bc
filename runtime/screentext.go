package runtime

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/vmtest/vmtest/runtime/ocr"
	"github.com/vmtest/vmtest/vm"
)

// Bounds of reading a screen.
const (
	// screenReadTimeout bounds one reading: the screen dump and tesseract
	// (about a second for a full console on a loaded 2-core host).
	screenReadTimeout = 60 * time.Second
	// screenPoll is the pause between two readings of WaitForText.
	screenPoll = time.Second
)

// ScreenText returns the text read on the machine's screen by OCR (see
// package runtime/ocr): one line per line of text. Like Screendump it
// does not boot the machine and needs a display; it also needs tesseract
// on the host. It blocks for one reading, at most screenReadTimeout, or
// until ctx is done.
func (m *Machine) ScreenText(ctx context.Context) (string, error) {
	v, err := m.screenReader()
	if err != nil {
		return "", err
	}
	start := time.Now()
	text, err := m.readScreen(ctx, v, ocr.DefaultScale, nil)
	if err != nil {
		if ctx.Err() != nil {
			return "", m.errorf(context.Cause(ctx), "reading the screen: cancelled: %v", context.Cause(ctx))
		}
		return "", err
	}
	m.net.log.Machinef(m.Name(), "read the screen: %s in %s", plural(strings.Count(text, "\n"), "line"), round(time.Since(start)))
	return text, nil
}

// WaitForText reads the machine's screen until its text matches re, and
// returns that text. It reads about once a second: a screen dump, and
// OCR unless the image is the same as the last one read (a blinking
// cursor aside) at both scales it is read at (ocr.DefaultScale, then one
// more). It stops at the first
// match, at the timeout (0: as long as ctx allows; the error shows the
// text read last) or when ctx is done. Each reading is bounded by
// screenReadTimeout. Like ScreenText it does not boot the machine.
func (m *Machine) WaitForText(ctx context.Context, re *regexp.Regexp, timeout time.Duration) (string, error) {
	v, err := m.screenReader()
	if err != nil {
		return "", err
	}
	m.net.log.Machinef(m.Name(), "waiting for text /%s/ on the screen", re)
	start := time.Now()
	waitCtx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	// The enlargements one screen image is read at, in turn, as long as
	// the screen stays unchanged: the second reads some glyphs the first
	// misreads (see ocr.DefaultScale).
	screenScales := [...]int{ocr.DefaultScale, ocr.DefaultScale + 1}
	var (
		last     image.Image // the screen image last read
		scales   int         // at how many of screenScales it has been read
		text     string      // what it read as the last time
		readings int
	)
	try := func() (bool, error) {
		img, err := m.grabScreen(waitCtx, v)
		if err != nil {
			return false, err
		}
		if !ocr.Unchanged(last, img) {
			last, scales = img, 0
		}
		if scales == len(screenScales) {
			return false, nil // read every way: wait for it to change
		}
		t, err := m.readScreen(waitCtx, v, screenScales[scales], img)
		if err != nil {
			return false, err
		}
		text, scales, readings = t, scales+1, readings+1
		return re.MatchString(text), nil
	}
	for {
		found, err := try()
		if found {
			m.net.log.Machinef(m.Name(), "text /%s/ on the screen after %s (%s)", re, round(time.Since(start)), plural(readings, "reading"))
			return text, nil
		}
		if err == nil {
			err = Pause(waitCtx, screenPoll)
		}
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return "", m.errorf(context.Cause(ctx), "waiting for text /%s/ on the screen: cancelled: %v", re, context.Cause(ctx))
		case waitCtx.Err() != nil:
			e := m.errorf(nil, "no text on the screen matched /%s/ within %s (%s)", re, timeout, plural(readings, "reading"))
			e.Screen, e.ScreenRead, e.TimedOut = text, readings > 0, true
			return "", e
		default:
			return "", err
		}
	}
}

// screenReader returns the running guest of a machine with a display,
// once it is known that tesseract is there to read its screen.
func (m *Machine) screenReader() (*vm.Machine, error) {
	v, err := m.screen()
	if err != nil {
		return nil, err
	}
	if err := ocr.Check(ocr.Options{}); err != nil {
		return nil, &Error{Machine: m.Name(), Msg: err.Error(), Err: err} // about the host: no console tail
	}
	return v, nil
}

// readScreen returns the text of img (a screen dump of v) read at scale,
// or of a new screen dump if img is nil, bounded by screenReadTimeout.
func (m *Machine) readScreen(ctx context.Context, v *vm.Machine, scale int, img image.Image) (string, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, screenReadTimeout, fmt.Errorf("it took longer than %s", screenReadTimeout))
	defer cancel()
	if img == nil {
		var err error
		if img, err = m.grabScreen(ctx, v); err != nil {
			return "", err
		}
	}
	text, err := ocr.Read(ctx, img, ocr.Options{Scale: scale})
	switch {
	case err != nil && ctx.Err() != nil:
		return "", m.errorf(context.Cause(ctx), "reading the screen: %v", context.Cause(ctx))
	case errors.Is(err, ocr.ErrNoTesseract):
		return "", &Error{Machine: m.Name(), Msg: err.Error(), Err: err}
	case err != nil:
		return "", m.errorf(err, "reading the screen: %v", err)
	}
	return text, nil
}

// grabScreen returns a screen dump of v, decoded. The PNG goes through a
// file of the machine's private directory, removed at once.
func (m *Machine) grabScreen(ctx context.Context, v *vm.Machine) (image.Image, error) {
	rd, _, err := m.net.runDir()
	if err != nil {
		return nil, err
	}
	dir, err := rd.Machine(m.index)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, "screen-*.png")
	if err != nil {
		return nil, err
	}
	path := f.Name()
	f.Close()
	defer os.Remove(path)
	if err := v.Screendump(ctx, path); err != nil {
		if ctx.Err() != nil {
			return nil, m.errorf(context.Cause(ctx), "screen dump: %v", context.Cause(ctx))
		}
		return nil, m.errorf(err, "screen dump: %v", vmCause(err))
	}
	f, err = os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		return nil, m.errorf(err, "screen dump: QEMU wrote no PNG image: %v", err)
	}
	return img, nil
}
