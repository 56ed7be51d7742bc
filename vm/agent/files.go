//go:build linux

package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/vmtest/vmtest/vm/wire"
)

func (s *Server) readFile(ctx context.Context, r *request, req wire.Request) wire.Result {
	f, err := os.Open(req.Path)
	if err != nil {
		return wire.Result{Error: fmt.Sprintf("read %s: %v", req.Path, unwrapPathError(err))}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return wire.Result{Error: fmt.Sprintf("read %s: %v", req.Path, unwrapPathError(err))}
	}
	if st.IsDir() {
		return wire.Result{Error: fmt.Sprintf("read %s: is a directory", req.Path)}
	}
	n, err := io.Copy(wire.StreamWriter{W: s.w, ID: r.id, Type: wire.TypeStdout}, ctxReader{ctx, f})
	if err != nil {
		return wire.Result{Error: fmt.Sprintf("read %s: %v", req.Path, unwrapPathError(err))}
	}
	return wire.Result{Size: n, Mode: uint32(st.Mode().Perm())}
}

func (s *Server) writeFile(ctx context.Context, r *request, req wire.Request) wire.Result {
	if !filepath.IsAbs(req.Path) {
		return wire.Result{Error: fmt.Sprintf("write %s: the path must be absolute", req.Path)}
	}
	mode := os.FileMode(req.Mode)
	if mode == 0 {
		mode = 0o644
	}
	if err := writeAtomic(req.Path, mode, ctxReader{ctx, r.stdin}); err != nil {
		return wire.Result{Error: fmt.Sprintf("write %s: %v", req.Path, err)}
	}
	return wire.Result{}
}

// writeAtomic writes src to path through a temporary file in the same
// directory (created with its parents), so a reader never sees half a file.
func writeAtomic(path string, mode os.FileMode, src io.Reader) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return unwrapPathError(err)
	}
	tmp, err := os.CreateTemp(dir, ".vmtest-*")
	if err != nil {
		return unwrapPathError(err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		return unwrapPathError(err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return unwrapPathError(err)
	}
	if err := tmp.Close(); err != nil {
		return unwrapPathError(err)
	}
	return unwrapPathError(os.Rename(tmp.Name(), path))
}

// ctxReader stops a copy between reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, fmt.Errorf("cancelled")
	}
	return c.r.Read(p)
}
