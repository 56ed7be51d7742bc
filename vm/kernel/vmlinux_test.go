package kernel

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ulikunitz/xz"
)

// hostKernel returns the host's kernel or skips the test.
func hostKernel(t *testing.T) *Kernel {
	t.Helper()
	t.Setenv(EnvKernel, "")
	k, err := Find("")
	if err != nil {
		t.Skipf("no usable host kernel: %v", err)
	}
	return k
}

func TestVMLinuxHost(t *testing.T) {
	k := hostKernel(t)
	dir := t.TempDir()

	t0 := time.Now()
	p, err := VMLinux(k, dir)
	cold := time.Since(t0)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(k.Path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if want := filepath.Join(dir, "vmlinux-"+hex.EncodeToString(sum[:])); p != want {
		t.Fatalf("VMLinux = %s, want %s", p, want)
	}
	vmlinux, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(vmlinux))
	if err != nil {
		t.Fatalf("%s is not an ELF file: %v", p, err)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		t.Errorf("%s: class %v machine %v, want a 64-bit x86 ELF", p, f.Class, f.Machine)
	}
	if err := checkPVH(k.Path, vmlinux); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("cache holds %d entries, want only the vmlinux", len(entries))
	}

	before, _ := os.Stat(p)
	t0 = time.Now()
	p2, err := VMLinux(k, dir)
	warm := time.Since(t0)
	if err != nil || p2 != p {
		t.Fatalf("second VMLinux = %s, %v; want %s", p2, err, p)
	}
	after, _ := os.Stat(p)
	if !os.SameFile(before, after) || !before.ModTime().Equal(after.ModTime()) {
		t.Error("second VMLinux rewrote the cached file")
	}
	t.Logf("%s: %d-byte bzImage -> %d-byte vmlinux; unpacked in %v, cached call %v", k.Path, len(data), len(vmlinux), cold, warm)
	if warm > cold/4 {
		t.Errorf("cached call took %v, the unpacking %v: the cache is not used", warm, cold)
	}

	// Cross-check with the xz tool, where there is one.
	payload, err := splitPayload(k.Path, data)
	if err != nil {
		t.Fatal(err)
	}
	if xzPath, err := exec.LookPath("xz"); err == nil && bytes.HasPrefix(payload, xzMagic) {
		cmd := exec.Command(xzPath, "-dc", "--single-stream")
		cmd.Stdin = bytes.NewReader(payload)
		want, err := cmd.Output()
		if err != nil {
			t.Fatalf("xz -dc: %v", err)
		}
		if !bytes.Equal(vmlinux, want) {
			t.Fatalf("vmlinux differs from what xz -dc unpacks (%d bytes vs %d)", len(vmlinux), len(want))
		}
	}
}

func TestVMLinuxDamaged(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) *Kernel {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return &Kernel{Path: p}
	}

	if k, err := Find(""); err == nil {
		data, err := os.ReadFile(k.Path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = VMLinux(write("truncated", data[:len(data)/2]), dir)
		wantErr(t, err, "truncated", "reinstall")
	}

	garbage := bytes.Repeat([]byte("garbage!"), 1000)
	_, err := VMLinux(write("garbage", garbage), dir)
	wantErr(t, err, "not a bzImage", "HdrS", `found "rbag"`)

	_, err = VMLinux(write("empty", nil), dir)
	wantErr(t, err, "not a bzImage", "0-byte")

	// A damaged xz payload.
	packed := xzPack(t, pvhELF(t, true))
	packed[len(packed)/2] ^= 0x55
	_, err = VMLinux(write("badxz", fakeBzImage("6.1.0", packed)), dir)
	wantErr(t, err, "xz", "damaged")

	// Payload length pointing past the end of the file.
	img := fakeBzImage("6.1.0", []byte("short payload"))
	binary.LittleEndian.PutUint32(img[offPayloadLength:], 1<<20)
	_, err = VMLinux(write("pastend", img), dir)
	wantErr(t, err, "truncated")

	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed calls left %d entries in the cache", len(entries))
	}
}

func TestVMLinuxFormats(t *testing.T) {
	withPVH := pvhELF(t, true)
	for name, payload := range map[string][]byte{
		// Trailing bytes after the stream, as the kernel build appends.
		"xz":           append(xzPack(t, withPVH), 1, 2, 3, 4),
		"gzip":         append(gzipPack(withPVH), 1, 2, 3, 4),
		"uncompressed": withPVH,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			k := &Kernel{Path: filepath.Join(t.TempDir(), "vmlinuz-x")}
			os.WriteFile(k.Path, fakeBzImage("6.1.0", payload), 0o644)
			p, err := VMLinux(k, dir)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(p)
			if !bytes.Equal(got, withPVH) {
				t.Fatalf("unpacked %d bytes, want the %d-byte ELF", len(got), len(withPVH))
			}
		})
	}
}

func TestVMLinuxNoPVH(t *testing.T) {
	noPVH := pvhELF(t, false)
	for name, c := range map[string]struct {
		payload []byte
		want    []string
	}{
		"no PVH note": {xzPack(t, noPVH), []string{"CONFIG_PVH", "--no-pvh"}},
		"zstd":        {[]byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0}, []string{"zstd", "--no-pvh"}},
		"lz4":         {[]byte{0x02, 0x21, 0x4c, 0x18, 0, 0, 0, 0}, []string{"lz4", "--no-pvh"}},
		"bzip2":       {[]byte("BZh91AY&SY"), []string{"bzip2", "--no-pvh"}},
		"unknown":     {[]byte("whatever"), []string{"77 68 61 74", "--no-pvh"}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			k := &Kernel{Path: filepath.Join(t.TempDir(), "vmlinuz-x")}
			os.WriteFile(k.Path, fakeBzImage("6.1.0", c.payload), 0o644)
			_, err := VMLinux(k, dir)
			wantErr(t, err, c.want...)
			var e *NoPVHError
			if !errors.As(err, &e) || e.Path != k.Path {
				t.Errorf("error %v is not a *NoPVHError for %s", err, k.Path)
			}
		})
	}
}

func TestUnBCJx86(t *testing.T) {
	// A call (e8) to absolute target 0x1234 at offset 16 is stored with
	// the relative displacement made absolute: target = rel + pos + 5.
	buf := make([]byte, 32)
	buf[16] = 0xe8
	binary.LittleEndian.PutUint32(buf[17:], 0x1234+16+5)
	unBCJx86(buf, 0)
	if got := binary.LittleEndian.Uint32(buf[17:]); got != 0x1234 {
		t.Fatalf("displacement = %#x, want %#x", got, 0x1234)
	}
}

// gzipPack compresses data into a gzip stream.
func gzipPack(data []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	zw.Close()
	return b.Bytes()
}

// xzPack compresses data into an xz stream (LZMA2 only, CRC64).
func xzPack(t testing.TB, data []byte) []byte {
	var b bytes.Buffer
	w, err := xz.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pvhELF returns a minimal 64-bit ELF with one PT_NOTE segment holding a
// "Xen" note: of type 18 (a PVH entry point) if pvh, else of type 17.
func pvhELF(t testing.TB, pvh bool) []byte {
	typ := uint32(17)
	if pvh {
		typ = xenElfnotePhys32Entry
	}
	var note bytes.Buffer
	// An unrelated note first, with an unaligned name.
	binary.Write(&note, binary.LittleEndian, []uint32{6, 4, 3})
	note.WriteString("Linux\x00\x00\x00")
	binary.Write(&note, binary.LittleEndian, uint32(0))
	binary.Write(&note, binary.LittleEndian, []uint32{4, 4, typ})
	note.WriteString("Xen\x00")
	binary.Write(&note, binary.LittleEndian, uint32(0x1000000))

	const ehsize, phsize = 64, 56
	var b bytes.Buffer
	hdr := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: 1,
		Entry: 0x1000000, Phoff: ehsize, Ehsize: ehsize, Phentsize: phsize, Phnum: 1,
	}
	copy(hdr.Ident[:], "\x7fELF\x02\x01\x01")
	binary.Write(&b, binary.LittleEndian, hdr)
	binary.Write(&b, binary.LittleEndian, elf.Prog64{
		Type: uint32(elf.PT_NOTE), Flags: uint32(elf.PF_R), Off: ehsize + phsize,
		Filesz: uint64(note.Len()), Memsz: uint64(note.Len()), Align: 4,
	})
	b.Write(note.Bytes())
	// Some bulk, so that compression has something to do.
	b.Write(bytes.Repeat([]byte("vmlinux body "), 5000))
	return b.Bytes()
}
