package stdlib_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"testing"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/lang/langtest"
	"github.com/vmtest/vmtest/stdlib"
)

func TestFS(t *testing.T) {
	names, err := fs.Glob(stdlib.FS(), "*.star")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"assert.star", "http.star", "shell.star"}; !slices.Equal(names, want) {
		t.Errorf("FS has %q, want %q", names, want)
	}
}

// TestTestdata runs the libraries' Starlark tests. The libraries take a
// machine; here "host" is a stand-in that runs the commands they build
// with sh on the test's own host, so the quoting and the curl command
// lines are checked for real (against an httptest server), without a VM.
func TestTestdata(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hello":
			fmt.Fprint(w, "hello\nworld\n")
		case "/nonl":
			fmt.Fprint(w, "no newline")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/query":
			fmt.Fprint(w, r.URL.RawQuery)
		case "/moved":
			http.Redirect(w, r, "/hello", http.StatusMovedPermanently)
		default:
			http.Error(w, "nothing here", http.StatusNotFound)
		}
	}))
	defer srv.Close()

	// A URL where nothing listens: a port that was just free.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/"
	ln.Close()

	langtest.RunTestdata(t, "testdata/*.star", starlark.StringDict{
		"host":       hostMachine(),
		"server_url": starlark.String(srv.URL),
		"closed_url": starlark.String(closed),
	})
}

// hostMachine returns a struct with the machine methods the libraries
// use, each running its command with sh -c on this host.
func hostMachine() starlark.Value {
	run := func(thread *starlark.Thread, cmd string) (int, string, string, error) {
		c := exec.CommandContext(lang.Context(thread), "sh", "-c", cmd)
		var stdout, stderr bytes.Buffer
		c.Stdout, c.Stderr = &stdout, &stderr
		err := c.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), stdout.String(), stderr.String(), nil
		}
		return 0, stdout.String(), stderr.String(), err
	}
	builtin := func(name string, f func(thread *starlark.Thread, cmd string, timeout int) (starlark.Value, error)) *starlark.Builtin {
		return starlark.NewBuiltin(name, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var cmd string
			timeout := 60
			if err := starlark.UnpackArgs(b.Name(), args, kwargs, "cmd", &cmd, "timeout?", &timeout); err != nil {
				return nil, err
			}
			return f(thread, cmd, timeout)
		})
	}
	succeed := func(thread *starlark.Thread, cmd string, _ int) (starlark.Value, error) {
		code, out, errOut, err := run(thread, cmd)
		if err != nil {
			return nil, err
		}
		if code != 0 {
			return nil, fmt.Errorf("succeed: command %q exited with %d: %s", cmd, code, errOut)
		}
		return starlark.String(out), nil
	}
	return starlarkstruct.FromStringDict(starlark.String("machine"), starlark.StringDict{
		"succeed": builtin("succeed", succeed),
		"execute": builtin("execute", func(thread *starlark.Thread, cmd string, _ int) (starlark.Value, error) {
			code, out, _, err := run(thread, cmd)
			if err != nil {
				return nil, err
			}
			return starlark.Tuple{starlark.MakeInt(code), starlark.String(out)}, nil
		}),
		// One attempt: the tests only call it when the server is up.
		"wait_until_succeeds": builtin("wait_until_succeeds", succeed),
	})
}
