package runtime

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/vmtest/vmtest/internal/extract"
	"github.com/vmtest/vmtest/vm/guest"
	"github.com/vmtest/vmtest/vm/lines"
)

// CopyFromHost copies the host file or directory src into the guest at
// dst (an absolute path): a file becomes the file dst, with src's
// permission bits; a directory's contents become the contents of the
// directory dst, created if need be, owned by root. Symbolic links are
// copied as links.
func (m *Machine) CopyFromHost(ctx context.Context, src, dst string) error {
	if !path.IsAbs(dst) {
		return fmt.Errorf("the guest path %q must be absolute", dst)
	}
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("copying from the host: %w", err)
	}
	g, err := m.guest(ctx)
	if err != nil {
		return err
	}
	m.net.log.Machinef(m.Name(), "copying %s from the host to %s", src, dst)
	if !st.IsDir() {
		f, err := os.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := g.WriteFile(ctx, dst, st.Mode().Perm(), f); err != nil {
			return m.callFailed(ctx, err, fmt.Sprintf("copying %s to %s", src, dst), 0)
		}
		return nil
	}

	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- writeTar(pw, src) }()
	stderr := lines.NewTail(stderrTail)
	res, err := g.Exec(ctx, guest.Command{
		Argv:  []string{"sh", "-c", `mkdir -p "$1" && exec tar -x --no-same-owner -C "$1"`, "sh", dst},
		Stdin: pr, Stderr: stderr,
	})
	pr.CloseWithError(errors.New("the copy ended")) // unblocks writeTar if the guest stopped reading
	tarErr := <-done
	if err != nil {
		return m.callFailed(ctx, err, fmt.Sprintf("copying %s to %s", src, dst), 0)
	}
	if res.Exit != 0 {
		return m.errorf(nil, "copying %s to %s: tar in the guest failed with exit status %d: %s", src, dst, res.Exit, strings.TrimSpace(stderr.String()))
	}
	if tarErr != nil {
		return m.errorf(tarErr, "copying %s to %s: %v", src, dst, tarErr)
	}
	return nil
}

// writeTar writes the contents of dir to w as a tar stream and closes w.
func writeTar(w *io.PipeWriter, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "root", "root"
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	w.CloseWithError(err)
	return err
}

// CopyFromVM copies the guest file or directory src into the output
// directory, as <out>/<target>/<base name of src>, and returns that host
// path. target is relative to the output directory ("" for the directory
// itself) and must not leave it.
func (m *Machine) CopyFromVM(ctx context.Context, src, target string) (string, error) {
	out := m.net.opts.OutDir
	if out == "" {
		return "", errors.New("this run keeps no output directory to copy into")
	}
	if !path.IsAbs(src) {
		return "", fmt.Errorf("the guest path %q must be absolute", src)
	}
	if !filepath.IsLocal(target) && target != "" {
		return "", fmt.Errorf("target directory %q must be relative and stay inside the output directory", target)
	}
	base := path.Base(src)
	if base == "/" {
		return "", errors.New("copying the guest's whole root is not supported")
	}
	if target == "" && m.net.ownFile(base) {
		return "", fmt.Errorf("copying %s would replace vmtest's own %s in the output directory; give a target_dir", src, base)
	}
	dir := filepath.Join(out, target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	dst := filepath.Join(dir, base)
	g, err := m.guest(ctx)
	if err != nil {
		return "", err
	}
	m.net.log.Machinef(m.Name(), "copying %s to %s", src, dst)

	tmp, err := os.CreateTemp(dir, ".copy-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	mode, err := g.ReadFile(ctx, src, tmp)
	tmp.Close()
	var ge *guest.Error
	if errors.As(err, &ge) && strings.HasSuffix(ge.Guest, "is a directory") {
		return dst, m.copyDirFromVM(ctx, g, src, dir)
	}
	if err != nil {
		return "", m.callFailed(ctx, err, "copying "+src, 0)
	}
	if err := os.Chmod(tmp.Name(), mode|0o600); err != nil {
		return "", err
	}
	os.RemoveAll(dst)
	return dst, os.Rename(tmp.Name(), dst)
}

// copyDirFromVM streams the guest directory src as a tar archive and
// unpacks it into dir, as dir/<base of src>. The archive is the guest's
// to make, so it is unpacked through a tree confined to that directory
// (see package extract): nothing it holds reaches elsewhere on the host.
func (m *Machine) copyDirFromVM(ctx context.Context, g guest.Guest, src, dir string) error {
	top := path.Base(src)
	dst := filepath.Join(dir, top)
	if fi, err := os.Lstat(dst); err == nil && !fi.IsDir() {
		os.Remove(dst) // a file or link of an earlier copy
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	tree, err := extract.Open(dst, top, extract.DefaultLimits)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := extract.Untar(pr, tree, extract.Archive{Top: top, GuestDir: path.Clean(src)})
		if cerr := tree.Close(); err == nil {
			err = cerr
		}
		pr.CloseWithError(errors.New("stopped unpacking")) // the guest's output past this is dropped
		done <- err
	}()
	stderr := lines.NewTail(stderrTail)
	res, err := g.Exec(ctx, guest.Command{Argv: []string{"tar", "-c", "-C", path.Dir(src), top}, Stdout: pw, Stderr: stderr})
	pw.Close()
	untarErr := <-done
	if untarErr != nil {
		return m.errorf(untarErr, "copying %s: %v", src, untarErr)
	}
	if err != nil {
		return m.callFailed(ctx, err, "copying "+src, 0)
	}
	if res.Exit != 0 {
		return m.errorf(nil, "copying %s: tar in the guest failed with exit status %d: %s", src, res.Exit, strings.TrimSpace(stderr.String()))
	}
	return nil
}
