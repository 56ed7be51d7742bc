package runtime

import (
	"context"
	"time"
)

// pause waits for d, or returns ctx's error when it is done first. The
// waits that poll (WaitUntil, WaitForText, WaitForWindow), typing and
// Sleep pause with it.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
