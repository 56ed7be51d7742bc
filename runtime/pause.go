package runtime

import (
	"context"
	"time"
)

// Pause waits for d, or returns the cause of ctx's end when it is done
// first. The waits that poll (WaitUntil, WaitForText, WaitForWindow),
// typing, Sleep and the builtins' retry() pause with it.
func Pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
