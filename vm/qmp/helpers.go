package qmp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Quit asks QEMU to exit (the quit command) and waits until QEMU has closed
// the connection or ctx ends. QEMU may hang up before its reply is sent;
// that counts as success. Quit does not wait for the QEMU process to exit:
// the caller, who started it, waits for that.
func (c *Client) Quit(ctx context.Context) error {
	if _, err := c.Execute(ctx, "quit", nil); err != nil && !errors.Is(err, ErrClosed) {
		return err
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("qmp quit: qemu acknowledged but kept the connection open: %w", ctx.Err())
	}
}

// Status returns the run state from query-status: "prelaunch" (started
// with -S), "running", "paused", "shutdown", "inmigrate",
// "postmigrate", "guest-panicked", ...
func (c *Client) Status(ctx context.Context) (string, error) {
	ret, err := c.Execute(ctx, "query-status", nil)
	if err != nil {
		return "", err
	}
	var st struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(ret, &st); err != nil || st.Status == "" {
		return "", fmt.Errorf("qmp query-status: want {\"status\": ...}, got %s", ret)
	}
	return st.Status, nil
}

// Screendump makes QEMU write the primary display to file, as PNG if file
// ends in ".png" and as PPM otherwise. QEMU writes the file itself, so the
// path must be reachable from QEMU's process (an absolute path is safest).
// The machine needs a display device (for example -device VGA); otherwise
// QEMU returns an error.
func (c *Client) Screendump(ctx context.Context, file string) error {
	args := map[string]string{"filename": file}
	if strings.EqualFold(filepath.Ext(file), ".png") {
		args["format"] = "png"
	}
	_, err := c.Execute(ctx, "screendump", args)
	return err
}

// ScreendumpPNG makes QEMU write the primary display to file as PNG,
// whatever file's name. The rest is as for Screendump.
func (c *Client) ScreendumpPNG(ctx context.Context, file string) error {
	_, err := c.Execute(ctx, "screendump", map[string]string{"filename": file, "format": "png"})
	return err
}

// SystemReset resets the machine, as pressing the reset button would.
func (c *Client) SystemReset(ctx context.Context) error {
	_, err := c.Execute(ctx, "system_reset", nil)
	return err
}

// Stop pauses the guest's CPUs (state "paused"; QEMU emits STOP).
func (c *Client) Stop(ctx context.Context) error {
	_, err := c.Execute(ctx, "stop", nil)
	return err
}

// Cont resumes the guest's CPUs, also out of "prelaunch" (QEMU emits
// RESUME).
func (c *Client) Cont(ctx context.Context) error {
	_, err := c.Execute(ctx, "cont", nil)
	return err
}
