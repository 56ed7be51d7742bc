package builtins_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/builtins"
	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/runtime"
)

// run executes src with the builtins on a network with no machines (so
// sleep, an action, really sleeps), cancelling it after 200 ms with
// cancel, and returns the error and how long it took.
func run(t *testing.T, src string, cancel func(thread *starlark.Thread, stop context.CancelCauseFunc)) (error, time.Duration) {
	t.Helper()
	net := runtime.New(runtime.Options{Name: "cancel", NoPackageCheck: true})
	defer net.Close()
	script := builtins.New(net, builtins.Options{})
	ctx, stop := context.WithCancelCause(context.Background())
	defer stop(nil)
	thread := &starlark.Thread{Name: "main"}
	defer lang.BindContext(thread, ctx)()
	timer := time.AfterFunc(200*time.Millisecond, func() { cancel(thread, stop) })
	defer timer.Stop()
	start := time.Now()
	_, err := starlark.ExecFileOptions(lang.Options(), thread, "cancel.star", src, script.Globals())
	return err, time.Since(start)
}

func TestBlockingBuiltinsHonourCancellation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		src    string
		cancel func(*starlark.Thread, context.CancelCauseFunc)
		want   string
	}{
		{"context", "sleep(600)", func(_ *starlark.Thread, stop context.CancelCauseFunc) { stop(errTest) }, "sleep: test says stop"},
		{"Thread.Cancel", "sleep(600)", func(th *starlark.Thread, _ context.CancelCauseFunc) { th.Cancel("test says stop") }, "sleep: cancelled"},
		{"retry", "retry(lambda: False, timeout = 600)", func(_ *starlark.Thread, stop context.CancelCauseFunc) { stop(errTest) }, "retry: test says stop"},
		{"retry deadline", "retry(lambda: sleep(600), timeout = 0.3)", func(*starlark.Thread, context.CancelCauseFunc) {},
			"retry: gave up after 1 attempts in 300ms; the last one failed: sleep: retry timed out after 300ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err, took := run(t, tc.src, tc.cancel)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if took > 10*time.Second {
				t.Fatalf("cancelled after %s", took)
			}
		})
	}
}

var errTest = testError("test says stop")

type testError string

func (e testError) Error() string { return string(e) }
