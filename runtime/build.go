package runtime

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vmtest/vmtest/runtime/hostbuild"
	"github.com/vmtest/vmtest/vm/cache"
	"github.com/vmtest/vmtest/vm/lines"
)

// Build runs a build step on the host (see package hostbuild) and returns
// its output directory, which the machines see at the same path: the
// host's root is theirs. A step whose inputs have not changed since a
// run made it is not run again. Its output goes to log.txt (and the
// terminal with -v) under "build NAME". With DeclareOnly nothing runs:
// the directory it would have is returned.
func (n *Network) Build(ctx context.Context, s hostbuild.Step) (string, error) {
	dir, err := cache.Dir()
	if err != nil {
		return "", err
	}
	if n.opts.DeclareOnly {
		r, err := hostbuild.Path(dir, s)
		return r.Dir, err
	}
	start := time.Now()
	out := n.log.Output("build "+s.Name, "out")
	tail := lines.NewTail(stderrTail)
	r, err := hostbuild.Run(ctx, dir, s, io.MultiWriter(out, tail))
	out.Close()
	switch {
	case err != nil && tail.String() != "":
		text := strings.TrimRight(tail.String(), "\n")
		return "", fmt.Errorf("%s: %w\n  output:\n    %s", s.Name, err, strings.ReplaceAll(text, "\n", "\n    "))
	case err != nil:
		return "", fmt.Errorf("%s: %w", s.Name, err)
	case r.Cached:
		n.log.Printf("build %s: cached, %s", s.Name, r.Dir)
	default:
		n.log.Printf("build %s: made in %s, %s", s.Name, round(time.Since(start)), r.Dir)
	}
	return r.Dir, nil
}
