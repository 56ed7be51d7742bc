package extract

import (
	"archive/tar"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// entry is one tar entry of a test archive.
type entry struct {
	name, link, data string
	kind             byte
	mode             int64
}

func archive(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	w := tar.NewWriter(&b)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.kind, Mode: e.mode, Size: int64(len(e.data))}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
		}
		if e.kind != tar.TypeReg {
			hdr.Size = 0
		}
		if err := w.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if e.kind == tar.TypeReg {
			w.Write([]byte(e.data))
		}
	}
	w.Close()
	return b.Bytes()
}

// untar unpacks the archive into a fresh directory inside a parent that
// also holds outside/, where nothing may ever be written, and returns
// the directory and the error of Untar or Close.
func untar(t *testing.T, lim Limits, a Archive, data []byte) (string, error) {
	t.Helper()
	parent := t.TempDir()
	outside := filepath.Join(parent, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "dir", "top")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tree, err := Open(dir, a.Top, lim)
	if err != nil {
		t.Fatal(err)
	}
	err = Untar(bytes.NewReader(data), tree, a)
	if cerr := tree.Close(); err == nil {
		err = cerr
	}
	if left, _ := os.ReadDir(outside); len(left) > 0 {
		t.Errorf("written outside the directory: %v", left)
	}
	if left, _ := os.ReadDir(filepath.Join(parent, "dir")); len(left) != 1 {
		t.Errorf("written beside the directory: %v", left)
	}
	return dir, err
}

// TestUntarHostile feeds archives that a hostile guest's tar could make:
// none writes outside the directory, each is refused with a reason.
func TestUntarHostile(t *testing.T) {
	a := Archive{Top: "top", GuestDir: "/srv/top"}
	for _, c := range []struct {
		name    string
		entries []entry
		want    string
	}{
		{"a link to an absolute path, then a file through it", []entry{
			{name: "top/", kind: tar.TypeDir},
			{name: "top/link", link: "../../outside", kind: tar.TypeSymlink},
			{name: "top/link/x", data: "pwned", kind: tar.TypeReg},
		}, "top/link -> ../../outside leads outside"},
		{"an absolute link", []entry{
			{name: "top/link", link: "/etc", kind: tar.TypeSymlink},
			{name: "top/link/passwd", data: "pwned", kind: tar.TypeReg},
		}, "link -> /etc leads outside"},
		{"dot dot in a name", []entry{
			{name: "top/../outside/x", data: "pwned", kind: tar.TypeReg},
		}, `unexpected entry "top/../outside/x"`},
		{"dot dot that cleans to inside", []entry{
			{name: "top/a/../b", data: "x", kind: tar.TypeReg},
		}, `unexpected entry "top/a/../b"`},
		{"an absolute name", []entry{
			{name: "/etc/x", data: "pwned", kind: tar.TypeReg},
		}, `unexpected entry "/etc/x"`},
		{"another top", []entry{
			{name: "other/x", data: "pwned", kind: tar.TypeReg},
		}, `unexpected entry "other/x"`},
		{"links that lead outside only together", []entry{
			{name: "top/d/", kind: tar.TypeDir},
			{name: "top/x", link: "d/l/..", kind: tar.TypeSymlink},
			{name: "top/d/l", link: "..", kind: tar.TypeSymlink},
		}, "symbolic link top/x -> d/l/.. leads outside the directory, through other links"},
		{"a file through links that lead outside together", []entry{
			{name: "top/d/", kind: tar.TypeDir},
			{name: "top/d/l", link: "..", kind: tar.TypeSymlink},
			{name: "top/x", link: "d/l/..", kind: tar.TypeSymlink},
			{name: "top/x/outside/y", data: "pwned", kind: tar.TypeReg},
		}, "escapes"},
		{"a hard link to a host file", []entry{
			{name: "top/h", link: "/etc/passwd", kind: tar.TypeLink},
		}, "hard link top/h"},
		{"a hard link up and out", []entry{
			{name: "top/h", link: "top/../../outside", kind: tar.TypeLink},
		}, "hard link top/h"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := untar(t, DefaultLimits, a, archive(t, c.entries...))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}

// TestUntarLimits: a file, the whole copy and the number of entries are
// bounded, and the error says what was cut.
func TestUntarLimits(t *testing.T) {
	lim := Limits{File: 10, Total: 15, Entries: 4}
	for _, c := range []struct {
		entries []entry
		want    string
	}{
		{[]entry{{name: "top/big", data: "12345678901", kind: tar.TypeReg}}, "big: larger than 10 bytes, the limit of one file; it was not copied"},
		{[]entry{{name: "top/a", data: "1234567890", kind: tar.TypeReg}, {name: "top/b", data: "123456", kind: tar.TypeReg}},
			"b: the copy would exceed 15 bytes in all; it stopped there, and this file and the rest were not copied"},
		{[]entry{{name: "top/1", kind: tar.TypeDir}, {name: "top/2", kind: tar.TypeDir}, {name: "top/3", kind: tar.TypeDir},
			{name: "top/4", kind: tar.TypeDir}, {name: "top/5", kind: tar.TypeDir}}, "5: more than 4 entries, the limit of one copy"},
	} {
		dir, err := untar(t, lim, Archive{Top: "top"}, archive(t, c.entries...))
		if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "big")); err == nil {
			t.Errorf("the file over the limit was left")
		}
	}
}

// TestUntar unpacks what a guest's tar of a directory holds: files with
// their permission bits (less setuid), directories, links inside (an
// absolute one into the copied directory made relative), hard links; no
// device nodes or FIFOs.
func TestUntar(t *testing.T) {
	dir, err := untar(t, DefaultLimits, Archive{Top: "top", GuestDir: "/srv/top"}, archive(t,
		entry{name: "top/", kind: tar.TypeDir, mode: 0o755},
		entry{name: "top/sub/", kind: tar.TypeDir, mode: 0o700},
		entry{name: "top/sub/r.txt", data: "result\n", kind: tar.TypeReg, mode: 0o4755},
		entry{name: "top/rel", link: "sub/r.txt", kind: tar.TypeSymlink},
		entry{name: "top/sub/abs", link: "/srv/top/sub/r.txt", kind: tar.TypeSymlink},
		entry{name: "top/self", link: "/srv/top", kind: tar.TypeSymlink},
		entry{name: "top/hard", link: "top/sub/r.txt", kind: tar.TypeLink},
		entry{name: "top/null", kind: tar.TypeChar},
		entry{name: "top/fifo", kind: tar.TypeFifo},
		entry{name: "top/rel", link: "sub", kind: tar.TypeSymlink}, // replaced
	))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"sub/r.txt": "result\n", "rel/r.txt": "result\n", "sub/abs": "result\n", "self/sub/r.txt": "result\n", "hard": "result\n"} {
		if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", name, got, err, want)
		}
	}
	if target, _ := os.Readlink(filepath.Join(dir, "sub/abs")); target != "r.txt" {
		t.Errorf("sub/abs -> %q, want r.txt", target)
	}
	if fi, err := os.Stat(filepath.Join(dir, "sub/r.txt")); err != nil || fi.Mode() != 0o755 {
		t.Errorf("sub/r.txt: mode %v, %v; want -rwxr-xr-x", fi.Mode(), err)
	}
	for _, name := range []string{"null", "fifo"} {
		if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v, want none", name, err)
		}
	}
}

// FuzzUntar: no archive writes outside the directory or panics.
func FuzzUntar(f *testing.F) {
	f.Add(archive(f, entry{name: "top/x", data: "x", kind: tar.TypeReg}))
	f.Add(archive(f, entry{name: "top/d/", kind: tar.TypeDir}, entry{name: "top/d/l", link: "..", kind: tar.TypeSymlink},
		entry{name: "top/x", link: "d/l/..", kind: tar.TypeSymlink}, entry{name: "top/x/y", data: "y", kind: tar.TypeReg}))
	f.Add(archive(f, entry{name: "top/h", link: "top/x", kind: tar.TypeLink}))
	f.Fuzz(func(t *testing.T, data []byte) {
		untar(t, Limits{File: 1 << 16, Total: 1 << 20, Entries: 100}, Archive{Top: "top", GuestDir: "/g/top"}, data)
	})
}
