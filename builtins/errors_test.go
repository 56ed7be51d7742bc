package builtins_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/builtins"
	"github.com/vmtest/vmtest/internal/vmtestbin"
	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/runtime"
	"github.com/vmtest/vmtest/vm"
	"github.com/vmtest/vmtest/vm/guest"
)

// TestErrorsReachTheScript: what went wrong in a guest call keeps its
// identity through vm, runtime and the builtins, up to the error a
// script's run returns (errors.Is), on a real guest.
func TestErrorsReachTheScript(t *testing.T) {
	bin, err := vmtestbin.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	art, err := vm.Prepare(context.Background(), vm.Options{Agent: bin})
	if err != nil {
		t.Fatal(err)
	}
	net := runtime.New(runtime.Options{
		Name: "errors", NoPackageCheck: true, OutDir: t.TempDir(),
		Artifacts: func(context.Context) (*vm.Artifacts, error) { return art, nil },
	})
	defer net.Close()
	script := builtins.New(net, builtins.Options{})
	globals, err := starlark.ExecFileOptions(lang.Options(), &starlark.Thread{Name: "decl"}, "errors.star",
		"m = machine(\"m\")\nscreen = machine(\"screen\", display = True)\n", script.Globals())
	if err != nil {
		t.Fatal(err)
	}
	env := starlark.StringDict{}
	for k, v := range script.Globals() {
		env[k] = v
	}
	for k, v := range globals {
		env[k] = v
	}
	exec := func(ctx context.Context, src string) error {
		thread := &starlark.Thread{Name: "main"}
		defer lang.BindContext(thread, ctx)()
		_, err := starlark.ExecFileOptions(lang.Options(), thread, "errors.star", src, env)
		return err
	}
	ctx := context.Background()
	if err := exec(ctx, "m.start()"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, src string
		cancel    bool
		want      error
	}{
		{"timeout", `m.succeed("sleep 600", timeout = 1)`, false, guest.ErrTimeout},
		{"timeout is a deadline", `m.wait_for_file("/never", timeout = 1)`, false, context.DeadlineExceeded},
		{"cancellation", `m.succeed("sleep 600")`, true, context.Canceled},
		{"guest failure", `m.execute(["no-such-program"])`, false, guest.ErrFailed},
		{"not running", `screen.send_key("a")`, false, guest.ErrNotRunning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			if tc.cancel {
				time.AfterFunc(2*time.Second, cancel)
			}
			err := exec(ctx, tc.src)
			if !errors.Is(err, tc.want) {
				t.Fatalf("%s: got %v, want an error that is %v", tc.src, err, tc.want)
			}
			var re *runtime.Error
			if !errors.As(err, &re) || re.Machine == "" {
				t.Errorf("%s: got %v, want a *runtime.Error naming the machine", tc.src, err)
			}
		})
	}
}
