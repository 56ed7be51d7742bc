package qmp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
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

// SendKey presses keys together, in order, and releases them (send-key).
// Each key is a QKeyCode name ("ctrl", "f2") or a raw key code in hex
// ("0x1c"). QEMU answers at once and queues the events, pausing hold after
// each press and each release, and queues the keys of a later SendKey
// after them: a caller that wants the keys delivered waits 2×len(keys)×hold.
func (c *Client) SendKey(ctx context.Context, keys []string, hold time.Duration) error {
	type keyValue struct {
		Type string `json:"type"`
		Data any    `json:"data"`
	}
	args := struct {
		Keys     []keyValue `json:"keys"`
		HoldTime int64      `json:"hold-time"`
	}{HoldTime: hold.Milliseconds()}
	for _, k := range keys {
		if n, err := strconv.ParseUint(strings.TrimPrefix(k, "0x"), 16, 16); strings.HasPrefix(k, "0x") && err == nil {
			args.Keys = append(args.Keys, keyValue{"number", n})
		} else {
			args.Keys = append(args.Keys, keyValue{"qcode", k})
		}
	}
	_, err := c.Execute(ctx, "send-key", args)
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
