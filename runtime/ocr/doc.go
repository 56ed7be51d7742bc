// Package ocr reads the text on a machine's screen: it turns a screenshot
// (a PNG from QEMU's screendump) into text with the host's tesseract.
//
// Screens are not the scanned pages tesseract is trained on: a text
// console draws 8×16 pixel bitmap glyphs, light on dark, and an X screen
// mixes light and dark windows. So the image is prepared in Go first
// (Prepare): made gray, every pixel turned dark-on-light according to
// the background region it lies in (not one polarity for the whole
// screen), enlarged (3× by default) with smoothing, and cropped to the
// part that has ink. An empty screen is never handed to tesseract.
//
// # Who calls what
//
// runtime's Machine.ScreenText and WaitForText call Read with a decoded
// screenshot; Read blocks while tesseract runs, one process per call,
// killed when ctx is done. Nothing here keeps state between calls: a
// caller that wants to skip an unchanged screen keeps the previous image
// and asks Unchanged.
package ocr
