package ocr

import (
	"image"
	"image/color"
)

// DefaultScale is how much Prepare enlarges a screen unless told
// otherwise. Measured on real screendumps of vmtest guests (five screens
// of fbcon's 8×16 VGA font and two X screens with xterms; testdata has
// some), characters wrong against what was printed: at 1× 20%, at 2× 6%,
// at 3× with the blur 1.6%, at 4× with the blur 1.0%. But 4× misreads
// the first letter of the small X fonts that 3× reads without an error,
// and takes a third longer.
const DefaultScale = 3

// MaxScale bounds Options.Scale: a 1280×800 screen at 6× is 37 million
// pixels, as much as is sensible to hand tesseract.
const MaxScale = 6

// Thresholds of Prepare.
const (
	// A run of connected pixels of nearly one gray (neighbours within
	// bgTolerance) at least bgMinArea pixels large is a background: the
	// area of about 16 console glyph cells, more than any glyph of text.
	bgTolerance = 2
	bgMinArea   = 2000
	// inkLevel separates dark from light.
	inkLevel = 128
	// cropMargin is kept around the ink when cropping, before scaling: a
	// console glyph cell.
	cropMargin = 16
)

// Prepare returns img as tesseract reads best: gray, dark text on a
// light background everywhere, cropped to the rectangle that has ink
// (with a margin), enlarged scale times with bilinear interpolation and
// a 3×3 blur. ok is false when the screen has no ink at all (a blank
// screen, one colour): there is nothing to read.
func Prepare(img image.Image, scale int) (out *image.Gray, ok bool) {
	scale = max(1, min(scale, MaxScale))
	g := normalize(toGray(img))
	r, ok := inkBounds(g)
	if !ok {
		return nil, false
	}
	r = r.Inset(-cropMargin).Intersect(g.Rect)
	g = g.SubImage(r).(*image.Gray)
	if scale > 1 {
		g = blur(enlarge(g, scale))
	}
	return g, true
}

// toGray returns img as a gray image with bounds starting at (0, 0).
func toGray(img image.Image) *image.Gray {
	b := img.Bounds()
	g := image.NewGray(image.Rect(0, 0, b.Dx(), b.Dy()))
	switch src := img.(type) {
	case *image.RGBA:
		for y := 0; y < b.Dy(); y++ {
			row := src.Pix[(y+b.Min.Y-src.Rect.Min.Y)*src.Stride+(b.Min.X-src.Rect.Min.X)*4:]
			dst := g.Pix[y*g.Stride:]
			for x := range b.Dx() {
				p := row[x*4 : x*4+3 : x*4+3]
				dst[x] = luma(p[0], p[1], p[2])
			}
		}
	case *image.NRGBA: // screendumps are opaque: alpha is ignored
		for y := 0; y < b.Dy(); y++ {
			row := src.Pix[(y+b.Min.Y-src.Rect.Min.Y)*src.Stride+(b.Min.X-src.Rect.Min.X)*4:]
			dst := g.Pix[y*g.Stride:]
			for x := range b.Dx() {
				p := row[x*4 : x*4+3 : x*4+3]
				dst[x] = luma(p[0], p[1], p[2])
			}
		}
	default:
		for y := 0; y < b.Dy(); y++ {
			for x := 0; x < b.Dx(); x++ {
				g.Pix[y*g.Stride+x] = color.GrayModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.Gray).Y
			}
		}
	}
	return g
}

// luma is color.GrayModel's weighting of 8-bit components.
func luma(r, g, b uint8) uint8 {
	return uint8((19595*uint32(r) + 38470*uint32(g) + 7471*uint32(b) + 1<<15) >> 16)
}

// normalize returns g with every pixel that lies on a dark background
// inverted, so that all text is dark on light. The backgrounds are the
// large regions of nearly one gray (see bgMinArea); every other pixel
// (text, lines, small shapes) belongs to the background nearest to it.
// A screen without such regions (a photograph, a tiny image) is inverted
// as a whole if it is dark on average. g's stride must be its width, as
// toGray makes it.
func normalize(g *image.Gray) *image.Gray {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	n := w * h
	pix := g.Pix[:n]
	const (
		unknown = iota
		light
		dark
	)
	side := make([]uint8, n)     // per pixel: which background it belongs to
	seen := make([]bool, n)      // visited by the region fill
	queue := make([]int32, 0, n) // background pixels, then the spread from them
	region := make([]int32, 0, 4096)
	// neighbours calls f with each 4-neighbour of pixel i.
	neighbours := func(i int, f func(j int)) {
		x := i % w
		if x > 0 {
			f(i - 1)
		}
		if x < w-1 {
			f(i + 1)
		}
		if i >= w {
			f(i - w)
		}
		if i < n-w {
			f(i + w)
		}
	}
	for s := range n {
		if seen[s] {
			continue
		}
		// Fill the region of s: 4-neighbours within bgTolerance.
		seen[s] = true
		region = append(region[:0], int32(s))
		sum := 0
		for k := 0; k < len(region); k++ {
			i := int(region[k])
			v := int(pix[i])
			sum += v
			neighbours(i, func(j int) {
				if d := int(pix[j]) - v; !seen[j] && d <= bgTolerance && d >= -bgTolerance {
					seen[j] = true
					region = append(region, int32(j))
				}
			})
		}
		if len(region) < bgMinArea {
			continue
		}
		s := uint8(light)
		if sum/len(region) < inkLevel {
			s = dark
		}
		for _, i := range region {
			side[i] = s
		}
		queue = append(queue, region...)
	}
	out := image.NewGray(image.Rect(0, 0, w, h))
	if len(queue) == 0 {
		sum := 0
		for _, v := range pix {
			sum += int(v)
		}
		invert := n > 0 && sum/n < inkLevel
		for i, v := range pix {
			if invert {
				v = 255 - v
			}
			out.Pix[i] = v
		}
		return out
	}
	// Breadth first from every background pixel at once: each other pixel
	// takes the side of the background it is nearest to.
	for k := 0; k < len(queue); k++ {
		i := int(queue[k])
		neighbours(i, func(j int) {
			if side[j] == unknown {
				side[j] = side[i]
				queue = append(queue, int32(j))
			}
		})
	}
	for i, v := range pix {
		if side[i] == dark {
			v = 255 - v
		}
		out.Pix[i] = v
	}
	return out
}

// inkBounds returns the smallest rectangle holding every dark pixel of
// g, and false if there is none.
func inkBounds(g *image.Gray) (image.Rectangle, bool) {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	x0, y0, x1, y1 := w, h, -1, -1
	for y := range h {
		row := g.Pix[y*g.Stride : y*g.Stride+w]
		for x, v := range row {
			if v < inkLevel {
				x0, x1 = min(x0, x), max(x1, x)
				y0, y1 = min(y0, y), max(y1, y)
			}
		}
	}
	if x1 < 0 {
		return image.Rectangle{}, false
	}
	return image.Rect(x0, y0, x1+1, y1+1).Add(g.Rect.Min), true
}

// enlarge returns g scaled k times with bilinear interpolation (pixel
// centres aligned), its bounds starting at (0, 0).
func enlarge(g *image.Gray, k int) *image.Gray {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	out := image.NewGray(image.Rect(0, 0, w*k, h*k))
	// Source index and weight (of the next pixel, in 1/256) of each
	// output column and row.
	type tap struct{ i0, i1, w int }
	taps := func(n int) []tap {
		t := make([]tap, n*k)
		for o := range t {
			f := (2*o+1)*256/(2*k) - 128 // source position in 1/256, centre aligned
			f = max(f, 0)
			i0 := min(f>>8, n-1)
			t[o] = tap{i0, min(i0+1, n-1), f & 255}
		}
		return t
	}
	xs, ys := taps(w), taps(h)
	for oy, ty := range ys {
		r0 := g.Pix[ty.i0*g.Stride:]
		r1 := g.Pix[ty.i1*g.Stride:]
		dst := out.Pix[oy*out.Stride : oy*out.Stride+w*k]
		for ox, tx := range xs {
			top := int(r0[tx.i0])*(256-tx.w) + int(r0[tx.i1])*tx.w
			bot := int(r1[tx.i0])*(256-tx.w) + int(r1[tx.i1])*tx.w
			dst[ox] = uint8((top*(256-ty.w) + bot*ty.w + 1<<15) >> 16)
		}
	}
	return out
}

// blur returns g smoothed with the 3×3 binomial kernel (1 2 1)ᵀ(1 2 1)/16,
// edges repeated.
func blur(g *image.Gray) *image.Gray {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	tmp := make([]uint16, w*h)
	for y := range h {
		row := g.Pix[y*g.Stride : y*g.Stride+w]
		for x := range w {
			l, r := row[max(x-1, 0)], row[min(x+1, w-1)]
			tmp[y*w+x] = uint16(l) + 2*uint16(row[x]) + uint16(r)
		}
	}
	out := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		up, down := tmp[max(y-1, 0)*w:], tmp[min(y+1, h-1)*w:]
		mid := tmp[y*w:]
		dst := out.Pix[y*out.Stride:]
		for x := range w {
			dst[x] = uint8((uint32(up[x]) + 2*uint32(mid[x]) + uint32(down[x]) + 8) >> 4)
		}
	}
	return out
}
