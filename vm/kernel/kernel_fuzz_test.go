package kernel

import (
	"bytes"
	"testing"
)

// FuzzExtract: a kernel file (the host's, or one given with --kernel)
// unpacks to a vmlinux whose PVH note is found, or is refused with an
// error, in bounded memory and without a panic.
func FuzzExtract(f *testing.F) {
	elf := pvhELF(f, true)
	f.Add(fakeBzImage("6.1.0", append(xzPack(f, elf), 1, 2, 3, 4)))
	f.Add(fakeBzImage("6.1.0", append(gzipPack(elf), 1, 2, 3, 4)))
	f.Add(fakeBzImage("6.1.0", elf))
	f.Add(fakeBzImage("6.1.0", []byte("BZh91AY&SY")))
	f.Add([]byte("MZ"))
	f.Fuzz(func(t *testing.T, data []byte) {
		vmlinux, err := extract("vmlinuz", data)
		if err != nil {
			return
		}
		if len(vmlinux) > maxUnpacked {
			t.Fatalf("unpacked %d bytes, more than %d", len(vmlinux), maxUnpacked)
		}
		checkPVH("vmlinuz", vmlinux)
	})
}

// FuzzUnxz: any xz stream decodes, checks verified, or is refused.
func FuzzUnxz(f *testing.F) {
	f.Add(xzPack(f, []byte("hello, vmtest")))
	f.Add(xzPack(f, bytes.Repeat([]byte{0xe8, 1, 2, 3, 4}, 100)))
	f.Add(xzMagic)
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := unxz(data, len(data)*8)
		if err == nil && len(out) > maxUnpacked {
			t.Fatalf("unpacked %d bytes, more than %d", len(out), maxUnpacked)
		}
	})
}

// FuzzCheckPVH: any unpacked payload is an ELF with a PVH note or is
// refused, without a panic.
func FuzzCheckPVH(f *testing.F) {
	f.Add(pvhELF(f, true)[:400])
	f.Add(pvhELF(f, false)[:400])
	f.Fuzz(func(t *testing.T, vmlinux []byte) {
		checkPVH("vmlinuz", vmlinux)
	})
}
