package ocr

import "testing"

// BenchmarkPrepare measures the preparation in Go of a full console
// screen (1280×800, 26 lines) at DefaultScale.
func BenchmarkPrepare(b *testing.B) {
	img := loadPNG(b, "testdata/console-services.png")
	for b.Loop() {
		Prepare(img, DefaultScale)
	}
}

// BenchmarkRead measures a whole reading of that screen: preparation
// and tesseract.
func BenchmarkRead(b *testing.B) {
	if testing.Short() {
		b.Skip("runs tesseract")
	}
	img := loadPNG(b, "testdata/console-services.png")
	for b.Loop() {
		if _, err := Read(b.Context(), img, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
