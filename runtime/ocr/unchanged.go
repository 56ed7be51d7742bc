package ocr

import "image"

// A text cursor's blink changes a box at most this large: fbcon's
// underline cursor is 2 pixels tall and a glyph cell wide (8 or 16).
// Anything taller is a change of text.
const (
	cursorWidth  = 32
	cursorHeight = 4
)

// Unchanged reports whether screenshot b shows the same text as a: they
// have the same bounds, and the pixels that differ, if any, lie in one
// box no larger than a blinking text cursor's. A caller that polls the
// screen uses it to skip reading a screen it has read.
func Unchanged(a, b image.Image) bool {
	if a == nil || b == nil || a.Bounds() != b.Bounds() {
		return false
	}
	r := a.Bounds()
	x0, y0, x1, y1 := r.Max.X, r.Max.Y, r.Min.X-1, r.Min.Y-1
	mark := func(x, y int) bool {
		x0, x1 = min(x0, x), max(x1, x)
		y0, y1 = min(y0, y), max(y1, y)
		return x1-x0 < cursorWidth && y1-y0 < cursorHeight
	}
	ra, okA := a.(*image.RGBA)
	rb, okB := b.(*image.RGBA)
	if okA && okB {
		for y := r.Min.Y; y < r.Max.Y; y++ {
			pa, pb := ra.Pix[ra.PixOffset(r.Min.X, y):][:r.Dx()*4], rb.Pix[rb.PixOffset(r.Min.X, y):][:r.Dx()*4]
			if string(pa) == string(pb) {
				continue
			}
			for x := range r.Dx() {
				if string(pa[x*4:x*4+4]) != string(pb[x*4:x*4+4]) && !mark(r.Min.X+x, y) {
					return false
				}
			}
		}
		return true
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			ar, ag, ab, aa := a.At(x, y).RGBA()
			br, bg, bb, ba := b.At(x, y).RGBA()
			if (ar != br || ag != bg || ab != bb || aa != ba) && !mark(x, y) {
				return false
			}
		}
	}
	return true
}
