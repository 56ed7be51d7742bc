package activate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/vmtest/vmtest/vm/guest"
	"github.com/vmtest/vmtest/vm/wire"
)

// ErrNoServiceManager is the error of a plan that acts on units, applied
// to a machine without systemd (see Apply).
var ErrNoServiceManager = errors.New("the machine runs no systemd to start, stop, restart or reload units")

// Apply carries out p on the machine g, in order: stop, write, remove,
// daemon-reload, reload, restart, start. Units are driven with systemctl
// in the guest when systemd is true; a plan that acts on units fails with
// ErrNoServiceManager otherwise, before it changes anything. It stops at
// the first step that fails, saying which.
func Apply(ctx context.Context, g guest.Guest, p Plan, systemd bool) error {
	if !systemd && (len(p.Stop)+len(p.Reload)+len(p.Restart)+len(p.Start) > 0) {
		return ErrNoServiceManager
	}
	if err := systemctl(ctx, g, "stop", p.Stop); err != nil {
		return err
	}
	for _, f := range p.Write {
		if err := writeFile(ctx, g, f); err != nil {
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
	}
	if len(p.Remove) > 0 {
		// A directory goes only once empty: what the machine made in it
		// stays.
		script := `for p; do if [ -d "$p" ] && [ ! -L "$p" ]; then rmdir "$p" 2>/dev/null || true; else rm -f "$p"; fi; done`
		if err := run(ctx, g, append([]string{"sh", "-c", script, "remove"}, p.Remove...)); err != nil {
			return fmt.Errorf("removing %s: %w", strings.Join(p.Remove, ", "), err)
		}
	}
	if p.DaemonReload && systemd {
		if err := run(ctx, g, []string{"systemctl", "daemon-reload"}); err != nil {
			return fmt.Errorf("systemctl daemon-reload: %w", err)
		}
	}
	for _, step := range []struct {
		op    string
		units []string
	}{{"reload", p.Reload}, {"restart", p.Restart}, {"start", p.Start}} {
		if err := systemctl(ctx, g, step.op, step.units); err != nil {
			return err
		}
	}
	return nil
}

// systemctl runs systemctl op on units, if any.
func systemctl(ctx context.Context, g guest.Guest, op string, units []string) error {
	if len(units) == 0 {
		return nil
	}
	if err := run(ctx, g, append([]string{"systemctl", op}, units...)); err != nil {
		return fmt.Errorf("systemctl %s %s: %w", op, strings.Join(units, " "), err)
	}
	return nil
}

// writeFile puts f on the machine as the boot does (see wire.File):
// a file, a directory or a link, its mode and owner.
func writeFile(ctx context.Context, g guest.Guest, f wire.File) error {
	owner := fmt.Sprintf("%d:%d", f.UID, f.GID)
	mode := fmt.Sprintf("%o", f.Mode&0o7777)
	switch {
	case f.Kind == wire.FileDir:
		return run(ctx, g, []string{"sh", "-c", `mkdir -p "$1" && chown "$2" "$1" && chmod "$3" "$1"`, "dir", f.Path, owner, mode})
	case f.Kind == wire.FileSymlink:
		return run(ctx, g, []string{"sh", "-c", `mkdir -p "$(dirname "$1")" && ln -sfn "$2" "$1" && chown -h "$3" "$1"`, "link", f.Path, string(f.Data), owner})
	case f.Append:
		// Added unless the file holds the text already, as at boot.
		script := `mkdir -p "$(dirname "$1")"; t=$(cat); if [ ! -e "$1" ] || ! grep -qF -- "$t" "$1"; then printf '%s\n' "$t" >> "$1"; fi`
		_, err := exec(ctx, g, []string{"sh", "-c", script, "append", f.Path}, bytes.TrimSuffix(f.Data, []byte("\n")))
		return err
	}
	if err := g.WriteFile(ctx, f.Path, fs.FileMode(f.Mode&0o777), bytes.NewReader(f.Data)); err != nil {
		return err
	}
	return run(ctx, g, []string{"sh", "-c", `chown "$2" "$1" && chmod "$3" "$1"`, "file", f.Path, owner, mode})
}

// run runs argv on g and fails unless it exits with status 0.
func run(ctx context.Context, g guest.Guest, argv []string) error {
	_, err := exec(ctx, g, argv, nil)
	return err
}

// exec runs argv with stdin, failing with its stderr unless it exits 0.
func exec(ctx context.Context, g guest.Guest, argv []string, stdin []byte) (string, error) {
	var out, errb bytes.Buffer
	c := guest.Command{Argv: argv, Stdout: &out, Stderr: &errb}
	if stdin != nil {
		c.Stdin = bytes.NewReader(stdin)
	}
	st, err := g.Exec(ctx, c)
	if err != nil {
		return "", err
	}
	if st.Exit != 0 {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = strings.TrimSpace(out.String())
		}
		return "", fmt.Errorf("exit status %d: %s", st.Exit, msg)
	}
	return out.String(), nil
}
