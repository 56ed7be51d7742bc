package cache

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestDirFromEnv(t *testing.T) {
	want := filepath.Join(t.TempDir(), "a", "b")
	t.Setenv(EnvDir, want)
	got, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("Dir() = %q, want %q", got, want)
	}
	fi, err := os.Stat(got)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("%s: mode %v, want a directory with mode 0700", got, fi.Mode())
	}
}

func TestDirDefault(t *testing.T) {
	home := t.TempDir()
	t.Setenv(EnvDir, "")
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, "xdg"))
	got, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(home, "xdg", "vmtest"); got != want {
		t.Fatalf("Dir() = %q, want %q", got, want)
	}
}

func TestKey(t *testing.T) {
	b := func(s string) []byte { return []byte(s) }
	if Key(b("ab"), b("c")) == Key(b("a"), b("bc")) {
		t.Error(`Key("ab","c") == Key("a","bc")`)
	}
	if Key(b("a"), nil) == Key(b("a")) {
		t.Error(`Key("a", "") == Key("a")`)
	}
	if Key(b("x"), b("y")) != Key(b("x"), b("y")) {
		t.Error("Key is not deterministic")
	}
	if k := Key(); len(k) != 64 || strings.ToLower(k) != k {
		t.Errorf("Key() = %q, want 64 lowercase hex digits", k)
	}
}

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "entry")
	if err := WriteAtomic(path, func(w io.Writer) error {
		_, err := io.WriteString(w, "hello")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "hello" {
		t.Fatalf("read back %q, %v; want \"hello\"", got, err)
	}

	// A failing writer leaves the old file and no temporary file behind.
	boom := errors.New("boom")
	err := WriteAtomic(path, func(w io.Writer) error {
		io.WriteString(w, strings.Repeat("x", 1<<20))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WriteAtomic error = %v, want the writer's error", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "hello" {
		t.Fatalf("after a failed write the file holds %q, want \"hello\"", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("directory holds %v, want only the entry", names)
	}

	if err := WriteAtomic(filepath.Join(dir, "missing", "x"), func(io.Writer) error { return nil }); err == nil {
		t.Fatal("WriteAtomic into a missing directory succeeded")
	}
}

// Concurrent writers of the same entry: every reader sees a whole file.
func TestWriteAtomicConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "entry")
	content := strings.Repeat("0123456789", 100000)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := WriteAtomic(path, func(w io.Writer) error {
				_, err := io.WriteString(w, content)
				return err
			}); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			b, err := os.ReadFile(path)
			if err == nil && string(b) != content {
				t.Errorf("reader saw %d bytes, want %d", len(b), len(content))
			}
		}()
	}
	wg.Wait()
}

func TestExists(t *testing.T) {
	dir := t.TempDir()
	if ok, err := Exists(filepath.Join(dir, "nope")); ok || err != nil {
		t.Fatalf("Exists(missing) = %v, %v", ok, err)
	}
	f := filepath.Join(dir, "f")
	os.WriteFile(f, nil, 0o600)
	if ok, err := Exists(f); !ok || err != nil {
		t.Fatalf("Exists(file) = %v, %v", ok, err)
	}
	if ok, err := Exists(dir); ok || err == nil {
		t.Fatalf("Exists(dir) = %v, %v; want an error", ok, err)
	}
}

// TestDirPrivate: a cache directory that others can write into, or that
// is someone else's, is refused, and the error says how to fix it.
func TestDirPrivate(t *testing.T) {
	open := t.TempDir()
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvDir, open)
	if _, err := Dir(); err == nil || !strings.Contains(err.Error(), "is writable by others (mode 0777)") || !strings.Contains(err.Error(), "chmod go-w "+open) {
		t.Errorf("a directory of mode 0777: %v", err)
	}
	// Someone else's: as root, a directory given away; otherwise root's.
	theirs := "/usr"
	if os.Geteuid() == 0 {
		theirs = t.TempDir()
		if err := os.Chown(theirs, 12345, 12345); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(EnvDir, theirs)
	if _, err := Dir(); err == nil || !strings.Contains(err.Error(), "belongs to uid") || !strings.Contains(err.Error(), "set VMTEST_CACHE to a directory of your own") {
		t.Errorf("someone else's directory: %v", err)
	}
}
