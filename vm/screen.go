package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Display geometry of a machine with Config.Display: the VGA adapter
// offers it to the guest as its preferred mode (EDID), which the guest's
// DRM driver picks.
const (
	DisplayWidth  = 1024
	DisplayHeight = 768
)

// displayArgs are the QEMU arguments of a machine's display: QEMU's
// standard VGA, which the guest's bochs DRM driver (see
// initramfs.DisplayModules) drives, and a VNC server on the unix socket
// vnc. The window stays off (-display none): VNC is how a person watches.
// The VGA ROM is not loaded: a PVH boot runs no option ROM.
func displayArgs(vnc string) []string {
	return []string{
		"-device", fmt.Sprintf("VGA,edid=on,xres=%d,yres=%d,romfile=", DisplayWidth, DisplayHeight),
		"-vnc", "unix:" + optValue(vnc),
	}
}

// HasDisplay reports whether the machine was configured with a display.
func (m *Machine) HasDisplay() bool { return m.cfg.Display }

// VNCSocket returns the unix socket on which the QEMU of a machine with a
// display serves its screen and keyboard over VNC (RFB) while it runs, ""
// for a machine without one. It is in the machine's private directory, so
// only its user can connect.
func (m *Machine) VNCSocket() string {
	if !m.cfg.Display {
		return ""
	}
	return filepath.Join(m.cfg.Dir, "vnc.sock")
}

// ErrNoDisplay is wrapped by the errors of screen methods called on a
// machine without Config.Display.
var ErrNoDisplay = errors.New("the machine has no display")

// Screendump writes what the machine's screen shows to path as a PNG
// image of DisplayWidth×DisplayHeight (or whatever mode the guest set). It
// blocks until QEMU has written the file, or ctx is done. QEMU writes it
// under a temporary name beside path, then it is renamed: path never holds
// a partial image. It fails if the machine has no display or is not
// running.
func (m *Machine) Screendump(ctx context.Context, path string) error {
	if !m.cfg.Display {
		return fmt.Errorf("machine %s: screen dump: %w", m.cfg.Name, ErrNoDisplay)
	}
	q, err := m.QMP()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(abs), "."+filepath.Base(abs)+".part")
	if err := q.ScreendumpPNG(ctx, tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("machine %s: screen dump to %s: %w", m.cfg.Name, path, err)
	}
	if err := os.Rename(tmp, abs); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("machine %s: screen dump: %w", m.cfg.Name, err)
	}
	return nil
}
