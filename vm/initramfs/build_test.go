package initramfs

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// fakeAgent writes a minimal ELF executable: statically linked, or with a
// PT_INTERP program header if dynamic.
func fakeAgent(t *testing.T, dynamic bool, body string) string {
	const ehsize, phsize = 64, 56
	progs := []elf.Prog64{{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X), Align: 0x1000}}
	if dynamic {
		progs = append([]elf.Prog64{{Type: uint32(elf.PT_INTERP), Flags: uint32(elf.PF_R), Align: 1}}, progs...)
	}
	hdr := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: 1, Entry: 0x401000,
		Phoff: ehsize, Ehsize: ehsize, Phentsize: phsize, Phnum: uint16(len(progs)),
	}
	copy(hdr.Ident[:], "\x7fELF\x02\x01\x01")
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, hdr)
	binary.Write(&b, binary.LittleEndian, progs)
	b.WriteString(body)
	p := filepath.Join(t.TempDir(), "vmtest")
	if err := os.WriteFile(p, b.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBuildHost(t *testing.T) {
	k := hostModules(t)
	spec := Spec{
		Agent:      fakeAgent(t, false, strings.Repeat("agent code ", 100000)),
		Release:    k.Release,
		ModulesDir: k.ModulesDir,
		Modules:    DefaultModules(),
		OnDemand:   OnDemandModules(),
		CacheDir:   t.TempDir(),
	}
	t0 := time.Now()
	p, err := Build(spec)
	cold := time.Since(t0)
	if err != nil {
		t.Fatal(err)
	}
	if dir, base := filepath.Split(p); filepath.Clean(dir) != spec.CacheDir || !strings.HasPrefix(base, "initramfs-") || !strings.HasSuffix(base, ".cpio") {
		t.Fatalf("Build = %s, want %s/initramfs-<hash>.cpio", p, spec.CacheDir)
	}
	image, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	entries := byName(readCPIO(t, image))

	agent, _ := os.ReadFile(spec.Agent)
	if e := entries["init"]; !bytes.Equal(e.data, agent) || e.mode != 0o100755 {
		t.Errorf("init: mode %o, %d bytes; want mode 100755 and the agent's %d bytes", e.mode, len(e.data), len(agent))
	}
	for _, d := range []string{"dev", "proc", "sys", "run", "newroot", "mnt"} {
		if e, ok := entries[d]; !ok || e.mode != 0o40755 {
			t.Errorf("%s: mode %o, present %v; want a 0755 directory", d, e.mode, ok)
		}
	}
	if e := entries["tmp"]; e.mode != 0o41777 {
		t.Errorf("tmp: mode %o, want 41777", e.mode)
	}
	if e := entries["dev/console"]; e.mode != 0o20600 || e.rmaj != 5 || e.rmin != 1 {
		t.Errorf("dev/console: mode %o, %d:%d; want a 5:1 character device", e.mode, e.rmaj, e.rmin)
	}

	mods, err := Resolve(k.ModulesDir, DefaultModules())
	if err != nil {
		t.Fatal(err)
	}
	var wantOrder strings.Builder
	for _, m := range mods {
		guest := "/lib/modules/" + k.Release + "/" + m
		wantOrder.WriteString(guest + "\n")
		host, err := os.ReadFile(filepath.Join(k.ModulesDir, m))
		if err != nil {
			t.Fatal(err)
		}
		e, ok := entries[guest[1:]]
		if !ok || !bytes.Equal(e.data, stripSignature(host)) || e.mode != 0o100644 {
			t.Errorf("%s: present %v, mode %o, %d bytes; want a copy of %s without its signature", guest, ok, e.mode, len(e.data), m)
		}
		if bytes.HasSuffix(e.data, []byte(sigMagic)) || len(e.data) >= len(host) {
			t.Errorf("%s: %d bytes of %d: the signature was not stripped", guest, len(e.data), len(host))
		}
	}
	if got := string(entries["modules.order"].data); got != wantOrder.String() {
		t.Errorf("modules.order =\n%s\nwant\n%s", got, wantOrder.String())
	}
	// The disk group lists ext4 and virtio_blk, and what they need beyond
	// the boot modules.
	disk := string(entries["modules.disk"].data)
	if !strings.Contains(disk, "/jbd2.ko\n") || !strings.Contains(disk, "/ext4.ko\n") || strings.Index(disk, "/jbd2.ko") > strings.Index(disk, "/ext4.ko") ||
		!strings.HasSuffix(disk, "/virtio_blk.ko\n") || strings.Contains(disk, "/virtio.ko\n") {
		t.Errorf("modules.disk =\n%s\nwant ext4 after jbd2, virtio_blk, and no boot module", disk)
	}
	if net := string(entries["modules.net"].data); !strings.HasSuffix(net, "/virtio_net.ko\n") {
		t.Errorf("modules.net =\n%s\nwant virtio_net", net)
	}

	// The cpio tool reads it too.
	if cpioPath, err := exec.LookPath("cpio"); err == nil {
		cmd := exec.Command(cpioPath, "-t", "--quiet")
		cmd.Stdin = bytes.NewReader(image)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("cpio -t: %v\n%s", err, out)
		}
		listed := strings.Fields(string(out))
		var want []string
		for name := range entries {
			want = append(want, name)
		}
		sort.Strings(listed)
		sort.Strings(want)
		if strings.Join(listed, "\n") != strings.Join(want, "\n") {
			t.Errorf("cpio -t lists %d names, the image has %d entries", len(listed), len(want))
		}
	}

	// Cached: same path, not rewritten.
	before, _ := os.Stat(p)
	t0 = time.Now()
	p2, err := Build(spec)
	warm := time.Since(t0)
	if err != nil || p2 != p {
		t.Fatalf("second Build = %s, %v; want %s", p2, err, p)
	}
	after, _ := os.Stat(p)
	if !os.SameFile(before, after) || !before.ModTime().Equal(after.ModTime()) {
		t.Error("second Build rewrote the image")
	}
	t.Logf("%d-byte image with %d modules: built in %v, cached call %v", len(image), len(mods), cold, warm)

	// A changed agent, or another module set, is another image.
	spec2 := spec
	spec2.Agent = fakeAgent(t, false, strings.Repeat("agent code ", 100000)+"v2")
	if p3, err := Build(spec2); err != nil || p3 == p {
		t.Errorf("Build with a changed agent = %s, %v; want a new image", p3, err)
	}
	spec3 := spec
	spec3.Modules = []string{"ext4"}
	if p4, err := Build(spec3); err != nil || p4 == p {
		t.Errorf("Build with other modules = %s, %v; want a new image", p4, err)
	}
	if ents, _ := os.ReadDir(spec.CacheDir); len(ents) != 3 {
		t.Errorf("cache holds %d entries, want 3 images", len(ents))
	}
}

func TestBuildRefuses(t *testing.T) {
	modules := fakeModules(t, map[string]string{"modules.dep": "kernel/a.ko:\n"})
	os.MkdirAll(filepath.Join(modules, "kernel"), 0o755)
	os.WriteFile(filepath.Join(modules, "kernel/a.ko"), []byte("module"), 0o644)
	spec := func(agent string, mods ...string) Spec {
		return Spec{Agent: agent, Release: "6.1.0-test", ModulesDir: modules, Modules: mods, CacheDir: t.TempDir()}
	}

	dyn := fakeAgent(t, true, "")
	_, err := Build(spec(dyn, "a"))
	wantErr(t, err, "agent binary "+dyn+" is dynamically linked; build vmtest with CGO_ENABLED=0")

	if _, statErr := os.Stat("/bin/true"); statErr == nil {
		if f, err := elf.Open("/bin/true"); err == nil && f.Progs != nil && hasInterp(f) {
			_, err := Build(spec("/bin/true", "a"))
			wantErr(t, err, "agent binary /bin/true is dynamically linked; build vmtest with CGO_ENABLED=0")
		}
	}

	script := filepath.Join(t.TempDir(), "agent.sh")
	os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755)
	_, err = Build(spec(script, "a"))
	wantErr(t, err, "agent binary "+script+" is not an ELF executable", "CGO_ENABLED=0")

	_, err = Build(spec(filepath.Join(t.TempDir(), "missing"), "a"))
	wantErr(t, err, "agent binary", "no such file")

	static := fakeAgent(t, false, "")
	_, err = Build(spec(static, "a", "b"))
	wantErr(t, err, `unknown kernel module "b"`)

	s := spec(static, "a")
	s.Release = ""
	_, err = Build(s)
	wantErr(t, err, "Spec.Release is empty")

	// A module file that modules.dep lists but is gone.
	os.Remove(filepath.Join(modules, "kernel/a.ko"))
	_, err = Build(spec(static, "a"))
	wantErr(t, err, "kernel/a.ko", "missing", "depmod")

	// With everything in order, it works.
	p, err := Build(spec(static))
	if err != nil {
		t.Fatal(err)
	}
	image, _ := os.ReadFile(p)
	if e := byName(readCPIO(t, image)); len(e["modules.order"].data) != 0 {
		t.Errorf("modules.order = %q, want empty", e["modules.order"].data)
	}
}

func hasInterp(f *elf.File) bool {
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return true
		}
	}
	return false
}
