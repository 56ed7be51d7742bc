package initramfs

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/vm/kernel"
)

// hostModules returns the modules directory of the kernel vmtest would boot,
// or skips the test.
func hostModules(t *testing.T) *kernel.Kernel {
	t.Helper()
	t.Setenv(kernel.EnvKernel, "")
	k, err := kernel.Find("")
	if err != nil {
		t.Skipf("no usable host kernel: %v", err)
	}
	return k
}

// readDeps parses modules.dep for the test's own checks.
func readDeps(t *testing.T, dir string) map[string][]string {
	b, err := os.ReadFile(filepath.Join(dir, "modules.dep"))
	if err != nil {
		t.Fatal(err)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if mod, rest, ok := strings.Cut(line, ":"); ok {
			deps[mod] = strings.Fields(rest)
		}
	}
	return deps
}

func indexOf(list []string, suffix string) int {
	return slices.IndexFunc(list, func(p string) bool { return strings.HasSuffix(p, suffix) })
}

func TestResolveHost(t *testing.T) {
	k := hostModules(t)
	names := append(DefaultModules(), OnDemandModules()["disk"]...)
	mods, err := Resolve(k.ModulesDir, names)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d modules: %v", len(mods), mods)

	deps := readDeps(t, k.ModulesDir)
	seen := map[string]bool{}
	for _, m := range mods {
		if seen[m] {
			t.Errorf("%s listed twice", m)
		}
		d, ok := deps[m]
		if !ok {
			t.Errorf("%s is not in modules.dep", m)
		}
		for _, dep := range d {
			if !seen[dep] {
				t.Errorf("%s comes before its dependency %s", m, dep)
			}
		}
		seen[m] = true
		if _, err := os.Stat(filepath.Join(k.ModulesDir, m)); err != nil {
			t.Error(err)
		}
	}

	builtin, _ := os.ReadFile(filepath.Join(k.ModulesDir, "modules.builtin"))
	for _, name := range names {
		file := "/" + name + ".ko"
		isBuiltin := strings.Contains("\n"+string(builtin), file+"\n")
		if got := indexOf(mods, file) >= 0; got == isBuiltin {
			t.Errorf("%s: included %v, built in %v", name, got, isBuiltin)
		}
	}
	for _, c := range []struct{ after, before string }{
		{"/ext4.ko", "/jbd2.ko"}, {"/ext4.ko", "/mbcache.ko"}, {"/9p.ko", "/9pnet.ko"},
		{"/9pnet_virtio.ko", "/9pnet.ko"}, {"/virtio_pci.ko", "/virtio.ko"},
		{"/jbd2.ko", "crc32c_generic.ko"}, // soft dependency, via the crypto-crc32c alias
	} {
		a, b := indexOf(mods, c.after), indexOf(mods, c.before)
		if a < 0 || b < 0 || a < b {
			t.Errorf("want %s (at %d) after %s (at %d)", c.after, a, c.before, b)
		}
	}
}

func TestResolveUnknownHost(t *testing.T) {
	k := hostModules(t)
	_, err := Resolve(k.ModulesDir, []string{"ext4", "ext5", "virtio-nett"})
	wantErr(t, err, `"ext5" (did you mean "ext4"?)`, `"virtio-nett" (did you mean "virtio_net"?)`, "modules.dep")
}

// fakeModules writes a modules directory with the given index files.
func fakeModules(t *testing.T, files map[string]string) string {
	dir := filepath.Join(t.TempDir(), "6.1.0-test")
	os.MkdirAll(dir, 0o755)
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestResolveSynthetic(t *testing.T) {
	dir := fakeModules(t, map[string]string{
		"modules.dep": `kernel/a/top-mod.ko.xz: kernel/a/mid.ko.zst kernel/a/base.ko
kernel/a/mid.ko.zst: kernel/a/base.ko
kernel/a/base.ko:
kernel/a/other.ko: kernel/a/base.ko
kernel/crypto/crc_impl.ko:
kernel/a/loop1.ko:
kernel/a/loop2.ko:
`,
		"modules.builtin": "kernel/fs/builtin_fs.ko\n",
		"modules.softdep": `# comment
softdep top_mod pre: crypto-crc nonexistent post: other
softdep loop1 pre: loop2
softdep loop2 pre: loop1
`,
		"modules.alias": "alias crypto-crc crc_impl\nalias pci:v0000*d* other\nalias fs-top top_mod\nalias fs-bi builtin_fs\n",
	})
	for _, c := range []struct {
		names []string
		want  []string
	}{
		{[]string{"top_mod"}, []string{"kernel/crypto/crc_impl.ko", "kernel/a/base.ko", "kernel/a/mid.ko.zst", "kernel/a/top-mod.ko.xz", "kernel/a/other.ko"}},
		{[]string{"top-mod", "base", "mid"}, []string{"kernel/crypto/crc_impl.ko", "kernel/a/base.ko", "kernel/a/mid.ko.zst", "kernel/a/top-mod.ko.xz", "kernel/a/other.ko"}},
		{[]string{"base", "top_mod", "base.ko"}, []string{"kernel/a/base.ko", "kernel/crypto/crc_impl.ko", "kernel/a/mid.ko.zst", "kernel/a/top-mod.ko.xz", "kernel/a/other.ko"}},
		{[]string{"builtin-fs", "fs-bi"}, nil},
		{[]string{"fs-top"}, []string{"kernel/crypto/crc_impl.ko", "kernel/a/base.ko", "kernel/a/mid.ko.zst", "kernel/a/top-mod.ko.xz", "kernel/a/other.ko"}},
		{[]string{"loop1"}, []string{"kernel/a/loop2.ko", "kernel/a/loop1.ko"}},
		{nil, nil},
	} {
		got, err := Resolve(dir, c.names)
		if err != nil {
			t.Errorf("Resolve(%q): %v", c.names, err)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Resolve(%q) = %q, want %q", c.names, got, c.want)
		}
	}

	_, err := Resolve(dir, []string{"mdi", "qqqqqqqqqqqq"})
	wantErr(t, err, `"mdi" (did you mean "mid"?)`, `"qqqqqqqqqqqq": want`)

	_, err = Resolve(t.TempDir(), []string{"x"})
	wantErr(t, err, "modules.dep", "apt-get install linux-image-", "depmod")

	bad := fakeModules(t, map[string]string{"modules.dep": "no colon here\n"})
	_, err = Resolve(bad, []string{"x"})
	wantErr(t, err, "no colon here", "depmod")
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
