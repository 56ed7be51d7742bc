package vm_test

import (
	"context"
	"image"
	"image/png"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmtest/vmtest/vm"
	"github.com/vmtest/vmtest/vm/keys"
)

// TestDisplay boots a display machine cold, which saves the boot snapshot
// of its shape, and one revived from it: on both, what the guest writes
// on tty1 is on the screen dump, the VNC server answers on its socket,
// and keys typed reach tty1. A stopped machine has no screen to dump.
func TestDisplay(t *testing.T) {
	a, _ := snapshotArtifacts(t)
	rd, err := vm.NewRunDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Remove() })
	for i, name := range []string{"cold", "revived"} {
		m := startOn(t, a, rd, i, name, func(c *vm.Config) { c.Display = true })
		if got := m.LastBoot().Revived; got != (i == 1) {
			t.Fatalf("%s: revived = %v", name, got)
		}
		// Coloured blocks on the text console, in front.
		sh(t, m, `printf '\033[2J\033[H\033[41m  red  \033[42m green \033[44m blue \033[47m white \033[0m %s\n' "$(hostname)" > /dev/tty1`)
		file := filepath.Join(t.TempDir(), "screen.png")
		if err := m.Screendump(context.Background(), file); err != nil {
			t.Fatal(err)
		}
		img := decodePNG(t, file)
		if b := img.Bounds(); b.Dx() != vm.DisplayWidth || b.Dy() != vm.DisplayHeight {
			t.Errorf("%s: the screen dump is %dx%d, want %dx%d", name, b.Dx(), b.Dy(), vm.DisplayWidth, vm.DisplayHeight)
		}
		if n := colours(img); n < 5 {
			t.Errorf("%s: the screen dump has %d colours, want at least 5 (black, red, green, blue, white)", name, n)
		}
		if banner := rfbBanner(t, m.VNCSocket()); !strings.HasPrefix(banner, "RFB 003.00") {
			t.Errorf("%s: the VNC socket answered %q, want an RFB banner", name, banner)
		}
		// The keyboard reaches tty1, revived or not.
		sh(t, m, `(exec < /dev/tty1; touch /tmp/ready; read -r l; echo "$l" > /tmp/line) > /dev/null 2>&1 &
			while [ ! -e /tmp/ready ]; do sleep 0.1; done`)
		for _, c := range []keys.Combo{{"shift", "o"}, {"k"}, {"ret"}} {
			if err := m.SendKey(context.Background(), c); err != nil {
				t.Fatal(err)
			}
		}
		if got := sh(t, m, "while [ ! -s /tmp/line ]; do sleep 0.1; done; cat /tmp/line"); got != "Ok\n" {
			t.Errorf("%s: typed Ok on tty1, the guest read %q", name, got)
		}
		if i == 1 {
			m.Crash()
			if err := m.Screendump(context.Background(), file); err == nil || !strings.Contains(err.Error(), "not running") {
				t.Errorf("a screen dump of a stopped machine: got %v, want an error saying it is not running", err)
			}
		}
	}
}

func decodePNG(t *testing.T, file string) image.Image {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return img
}

// colours counts the distinct colours of img.
func colours(img image.Image) int {
	seen := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r, g, bl}] = true
		}
	}
	return len(seen)
}

// rfbBanner returns the first line a VNC server sends.
func rfbBanner(t *testing.T, sock string) string {
	t.Helper()
	c, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		t.Fatalf("connecting to the VNC socket: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 12)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("reading the VNC banner: %v", err)
	}
	return string(b)
}
