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
// unpacks it into dir.
func (m *Machine) copyDirFromVM(ctx context.Context, g guest.Guest, src, dir string) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := readTar(pr, dir, path.Base(src))
		pr.CloseWithError(errors.New("stopped unpacking")) // the guest's output past this is dropped
		done <- err
	}()
	stderr := lines.NewTail(stderrTail)
	res, err := g.Exec(ctx, guest.Command{Argv: []string{"tar", "-c", "-C", path.Dir(src), path.Base(src)}, Stdout: pw, Stderr: stderr})
	pw.Close()
	untarErr := <-done
	if err != nil {
		return m.callFailed(ctx, err, "copying "+src, 0)
	}
	if res.Exit != 0 {
		return m.errorf(nil, "copying %s: tar in the guest failed with exit status %d: %s", src, res.Exit, strings.TrimSpace(stderr.String()))
	}
	if untarErr != nil {
		return m.errorf(untarErr, "copying %s: %v", src, untarErr)
	}
	return nil
}

// readTar unpacks regular files, directories and symbolic links from r
// into dir; every entry must lie under top.
func readTar(r io.Reader, dir, top string) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(hdr.Name)
		if name != top && !strings.HasPrefix(name, top+"/") || !filepath.IsLocal(name) {
			return fmt.Errorf("unexpected entry %q in the guest's archive", hdr.Name)
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		mode := os.FileMode(hdr.Mode) & fs.ModePerm
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, mode|0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode|0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			os.Remove(p)
			if err := os.Symlink(hdr.Linkname, p); err != nil {
				return err
			}
		default:
			// devices, fifos, hard links: skipped
		}
	}
}
