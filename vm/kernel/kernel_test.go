package kernel

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeBzImage returns a minimal bzImage: one setup sector after the boot
// sector, a setup header carrying release (if not empty) and payload.
func fakeBzImage(release string, payload []byte) []byte {
	const setupSects = 1
	b := make([]byte, (setupSects+1)*512)
	b[offSetupSects] = setupSects
	copy(b[offHeaderMagic:], "HdrS")
	binary.LittleEndian.PutUint16(b[offVersion:], 0x020f)
	if release != "" {
		const at = 0x300
		copy(b[at:], release+" (builder@example) #1 SMP")
		binary.LittleEndian.PutUint16(b[offKernelVersion:], at-0x200)
	}
	binary.LittleEndian.PutUint32(b[offPayloadOffset:], 0)
	binary.LittleEndian.PutUint32(b[offPayloadLength:], uint32(len(payload)))
	return append(b, payload...)
}

type fakeTree struct {
	Finder
	t *testing.T
}

func newFakeTree(t *testing.T) fakeTree {
	root := t.TempDir()
	f := Finder{Boot: filepath.Join(root, "boot"), Modules: filepath.Join(root, "lib", "modules")}
	for _, d := range []string{f.Boot, f.Modules} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(EnvKernel, "")
	return fakeTree{f, t}
}

// kernel writes <Boot>/<name> as a bzImage whose header says release.
func (ft fakeTree) kernel(name, release string) string {
	p := filepath.Join(ft.Boot, name)
	if err := os.WriteFile(p, fakeBzImage(release, []byte("payload!")), 0o644); err != nil {
		ft.t.Fatal(err)
	}
	return p
}

func (ft fakeTree) modules(release string) string {
	p := filepath.Join(ft.Modules, release)
	if err := os.MkdirAll(p, 0o755); err != nil {
		ft.t.Fatal(err)
	}
	return p
}

func TestFindNewestWithModules(t *testing.T) {
	ft := newFakeTree(t)
	ft.kernel("vmlinux-6.1.9-amd64", "6.1.9-amd64") // not vmlinuz-*: ignored
	ft.kernel("vmlinuz-6.1.9-amd64", "6.1.9-amd64")
	want := ft.kernel("vmlinuz-6.1.10-amd64", "6.1.10-amd64")
	ft.kernel("vmlinuz-6.2.0-1-amd64", "6.2.0-1-amd64") // newest, but no modules
	os.WriteFile(filepath.Join(ft.Boot, "vmlinuz-7.0.0-junk"), []byte("not a kernel"), 0o644)
	ft.modules("6.1.9-amd64")
	mods := ft.modules("6.1.10-amd64")
	ft.modules("7.0.0-junk")

	k, err := ft.Find("")
	if err != nil {
		t.Fatal(err)
	}
	if k.Path != want || k.Release != "6.1.10-amd64" || k.ModulesDir != mods {
		t.Fatalf("Find = %+v, want %s, release 6.1.10-amd64, modules %s", *k, want, mods)
	}
}

func TestFindReleaseFromHeader(t *testing.T) {
	ft := newFakeTree(t)
	// The header is authoritative; the name is only a fallback.
	ft.kernel("vmlinuz-renamed", "6.5.0-custom")
	ft.modules("6.5.0-custom")
	noVersion := ft.kernel("vmlinuz-5.10.0-1-amd64", "")
	ft.modules("5.10.0-1-amd64")

	k, err := ft.Find("")
	if err != nil {
		t.Fatal(err)
	}
	if k.Release != "6.5.0-custom" {
		t.Fatalf("release = %q, want the header's 6.5.0-custom", k.Release)
	}
	k, err = ft.Find(noVersion)
	if err != nil {
		t.Fatal(err)
	}
	if k.Release != "5.10.0-1-amd64" {
		t.Fatalf("release = %q, want the name's 5.10.0-1-amd64", k.Release)
	}
}

func TestFindMissingModules(t *testing.T) {
	ft := newFakeTree(t)
	p := ft.kernel("vmlinuz-6.1.0-56-amd64", "6.1.0-56-amd64")
	_, err := ft.Find("")
	wantErr(t, err, p, filepath.Join(ft.Modules, "6.1.0-56-amd64"), "apt-get install linux-image-amd64")
	_, err = ft.Find(p)
	wantErr(t, err, p, filepath.Join(ft.Modules, "6.1.0-56-amd64"), "apt-get install linux-image-amd64")
}

func TestFindNoKernel(t *testing.T) {
	ft := newFakeTree(t)
	_, err := ft.Find("")
	wantErr(t, err, "no kernel found", ft.Boot, "apt-get install linux-image-amd64")
}

func TestFindExplicit(t *testing.T) {
	ft := newFakeTree(t)
	ft.kernel("vmlinuz-6.1.10-amd64", "6.1.10-amd64")
	ft.modules("6.1.10-amd64")
	other := ft.kernel("vmlinuz-6.1.9-amd64", "6.1.9-amd64")
	ft.modules("6.1.9-amd64")

	k, err := ft.Find(other)
	if err != nil || k.Path != other {
		t.Fatalf("Find(%s) = %+v, %v", other, k, err)
	}
	t.Setenv(EnvKernel, other)
	k, err = ft.Find("")
	if err != nil || k.Path != other {
		t.Fatalf("Find with $%s = %+v, %v", EnvKernel, k, err)
	}

	elfFile := filepath.Join(t.TempDir(), "vmlinux")
	os.WriteFile(elfFile, append([]byte("\x7fELF"), make([]byte, 1024)...), 0o644)
	_, err = ft.Find(elfFile)
	wantErr(t, err, "not a bzImage", "HdrS", "ELF", "--kernel")

	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("tiny"), 0o644)
	_, err = ft.Find(short)
	wantErr(t, err, "not a bzImage", "4-byte")

	_, err = ft.Find(filepath.Join(t.TempDir(), "missing"))
	wantErr(t, err, "no such file")
}

func TestFindUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads files whatever their mode")
	}
	ft := newFakeTree(t)
	p := ft.kernel("vmlinuz-6.1.10-amd64", "6.1.10-amd64")
	ft.modules("6.1.10-amd64")
	os.Chmod(p, 0)
	_, err := ft.Find("")
	wantErr(t, err, "chmod 0644 "+p)
}

func TestFindHost(t *testing.T) {
	k, err := Find("")
	if err != nil {
		t.Skipf("no usable host kernel: %v", err)
	}
	if !strings.HasSuffix(k.Path, "vmlinuz-"+k.Release) {
		t.Errorf("host kernel %s: release %q does not match its name", k.Path, k.Release)
	}
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"6.1.10", "6.1.9", 1},
		{"6.1.0-56-amd64", "6.1.0-9-amd64", 1},
		{"6.10.0", "6.9.12", 1},
		{"6.1.0", "6.1.0", 0},
		{"6.1.0", "6.1.0-1", -1},
		{"6.1.0-10", "6.1.0-rc1", 1},
		{"5.19.0-1-amd64", "6.0.0-1-amd64", -1},
		{"6.1.007", "6.1.7", -1}, // equal as versions; the string order decides
		{"6.1.99999999999999999999999", "6.1.99999999999999999999998", 1},
	} {
		if got := compareVersions(c.a, c.b); got != c.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := compareVersions(c.b, c.a); got != -c.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", c.b, c.a, got, -c.want)
		}
	}
}

func wantErr(t *testing.T, err error, substrs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", substrs)
	}
	for _, s := range substrs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}
