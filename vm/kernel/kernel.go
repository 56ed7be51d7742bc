// Package kernel finds the Linux kernel a guest boots and unpacks it for
// PVH boot.
//
// By default the guest runs the host's own kernel: the newest
// /boot/vmlinuz-<release> whose modules (/lib/modules/<release>) are
// installed, since the guest's initramfs and root filesystem need them. The
// --kernel flag or $VMTEST_KERNEL name another bzImage instead.
//
// Booting a bzImage makes the emulated CPU decompress it at every boot, which
// is slow under TCG; VMLinux unpacks it once on the host to the ELF vmlinux
// inside and caches that, and QEMU boots the ELF directly through its PVH
// entry point.
package kernel

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// EnvKernel is the environment variable naming the kernel to boot when no
// explicit path is given.
const EnvKernel = "VMTEST_KERNEL"

const installHint = "install a kernel with its modules: apt-get install linux-image-amd64"

// Kernel is a bootable kernel and the modules built for it.
type Kernel struct {
	Path       string // the bzImage, e.g. /boot/vmlinuz-6.1.0-56-amd64
	Release    string // its release (uname -r), e.g. 6.1.0-56-amd64
	ModulesDir string // its modules, e.g. /lib/modules/6.1.0-56-amd64; exists
}

// Finder looks for kernels under configurable roots; the zero Finder is not
// useful, use DefaultFinder or set both fields.
type Finder struct {
	Boot    string // where vmlinuz-<release> files are, normally /boot
	Modules string // where <release> module directories are, normally /lib/modules
}

// DefaultFinder returns the Finder for the host's own kernels.
func DefaultFinder() Finder {
	return Finder{Boot: "/boot", Modules: "/lib/modules"}
}

// Find is DefaultFinder().Find(explicit).
func Find(explicit string) (*Kernel, error) {
	return DefaultFinder().Find(explicit)
}

// Find returns the kernel to boot: the bzImage at explicit if it is not
// empty (the --kernel flag), else the one $VMTEST_KERNEL names, else the
// newest <Boot>/vmlinuz-* (releases compared as versions: 6.1.10 is newer
// than 6.1.9) whose <Modules>/<release> directory exists.
//
// The release is read from the bzImage's setup header, or, if the header has
// none or cannot be read, taken from the file name (vmlinuz-<release>). The
// returned Kernel's ModulesDir always exists; a kernel without modules is an
// error, as is an explicit path that is not a bzImage.
func (f Finder) Find(explicit string) (*Kernel, error) {
	source := "--kernel"
	if explicit == "" {
		explicit = os.Getenv(EnvKernel)
		source = "$" + EnvKernel
	}
	if explicit != "" {
		return f.explicit(explicit, source)
	}
	return f.newest()
}

func (f Finder) explicit(path, source string) (*Kernel, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("kernel %s (from %s): %w", path, source, err)
	}
	rel, err := ReadRelease(abs)
	if err != nil {
		return nil, fmt.Errorf("kernel from %s: %w", source, err)
	}
	if rel == "" {
		rel = releaseFromName(abs)
	}
	if rel == "" {
		return nil, fmt.Errorf("kernel %s (from %s): its header carries no version string and its name is not vmlinuz-<release>, so its modules cannot be found; rename it vmlinuz-<release> (as uname -r prints in the guest)", abs, source)
	}
	mods := filepath.Join(f.Modules, rel)
	if !isDir(mods) {
		return nil, fmt.Errorf("kernel %s (from %s, release %s) has no modules: want directory %s, found none; install its modules there (make modules_install) or %s", abs, source, rel, mods, installHint)
	}
	return &Kernel{Path: abs, Release: rel, ModulesDir: mods}, nil
}

type candidate struct {
	path, release string
	readErr       error // the header could not be read (e.g. mode 0600 on Ubuntu)
}

func (f Finder) newest() (*Kernel, error) {
	paths, err := filepath.Glob(filepath.Join(f.Boot, "vmlinuz-*"))
	if err != nil {
		return nil, err
	}
	var cands []candidate
	for _, p := range paths {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		c := candidate{path: p}
		c.release, c.readErr = ReadRelease(p)
		if c.readErr != nil && !errors.Is(c.readErr, fs.ErrPermission) {
			continue // not a bzImage (or unreadable for another reason): skip it
		}
		if c.release == "" {
			c.release = releaseFromName(p)
		}
		if c.release == "" {
			continue
		}
		cands = append(cands, c)
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("no kernel found: want %s/vmlinuz-<release>, found none; %s, or name a bzImage with --kernel or $%s", f.Boot, installHint, EnvKernel)
	}
	sort.SliceStable(cands, func(i, j int) bool {
		return compareVersions(cands[i].release, cands[j].release) > 0
	})
	for _, c := range cands {
		mods := filepath.Join(f.Modules, c.release)
		if !isDir(mods) {
			continue
		}
		if c.readErr != nil {
			return nil, fmt.Errorf("%w; make it readable (sudo chmod 0644 %s) or name another bzImage with --kernel or $%s", c.readErr, c.path, EnvKernel)
		}
		return &Kernel{Path: c.path, Release: c.release, ModulesDir: mods}, nil
	}
	c := cands[0]
	return nil, fmt.Errorf("kernel %s (release %s) has no modules: want directory %s, found none (and no other kernel in %s has its modules); %s", c.path, c.release, filepath.Join(f.Modules, c.release), f.Boot, installHint)
}

// Setup header offsets (Documentation/arch/x86/boot.rst).
const (
	offSetupSects    = 0x1f1
	offHeaderMagic   = 0x202
	offVersion       = 0x206
	offKernelVersion = 0x20e
	offPayloadOffset = 0x248
	offPayloadLength = 0x24c
	headerEnd        = 0x250
)

// ReadRelease reads the kernel release (as uname -r prints it) from the setup
// header of the bzImage at path: the first word of the kernel_version string.
// It returns "" and no error for a bzImage whose header has no version
// string, and an error if path is not a bzImage.
func ReadRelease(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot read kernel: %w", err)
	}
	defer f.Close()
	var hdr [headerEnd]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return "", fmt.Errorf("kernel %s is not a bzImage: want a setup header, found only a %s", path, describeShort(f, err))
	}
	if err := checkMagic(path, hdr[:]); err != nil {
		return "", err
	}
	ptr := int64(binary.LittleEndian.Uint16(hdr[offKernelVersion:]))
	if ptr == 0 {
		return "", nil
	}
	var buf [256]byte
	n, err := f.ReadAt(buf[:], ptr+0x200)
	if n == 0 && err != nil {
		return "", nil
	}
	s := string(buf[:n])
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	fields := strings.Fields(s)
	if len(fields) == 0 || !plausibleRelease(fields[0]) {
		return "", nil
	}
	return fields[0], nil
}

func describeShort(f *os.File, err error) string {
	if fi, serr := f.Stat(); serr == nil {
		return fmt.Sprintf("%d-byte file", fi.Size())
	}
	return err.Error()
}

// checkMagic reports whether hdr (the file's first bytes) is a bzImage
// setup header, and if not says what it looks like instead.
func checkMagic(path string, hdr []byte) error {
	if len(hdr) >= headerEnd && string(hdr[offHeaderMagic:offHeaderMagic+4]) == "HdrS" {
		return nil
	}
	what := "unrecognised data"
	switch {
	case len(hdr) >= 4 && string(hdr[:4]) == "\x7fELF":
		what = "an ELF file (an unpacked vmlinux?)"
	case len(hdr) >= 2 && hdr[0] == 0x1f && hdr[1] == 0x8b:
		what = "a gzip file"
	case len(hdr) >= 6 && string(hdr[:6]) == "\xfd7zXZ\x00":
		what = "an xz file"
	case len(hdr) >= 4 && string(hdr[:4]) == "\x28\xb5\x2f\xfd":
		what = "a zstd file"
	case len(hdr) >= 2 && string(hdr[:2]) == "MZ":
		what = "a PE/EFI image without a Linux setup header"
	}
	var magic []byte
	if len(hdr) >= offHeaderMagic+4 {
		magic = hdr[offHeaderMagic : offHeaderMagic+4]
	}
	return fmt.Errorf("kernel %s is not a bzImage: want \"HdrS\" at offset 0x202, found %q (%s)", path, magic, what)
}

// plausibleRelease rejects garbage read through a bogus version pointer.
func plausibleRelease(s string) bool {
	if s == "" || len(s) > 128 || s[0] < '0' || s[0] > '9' {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r > '~' || r == '/' {
			return false
		}
	}
	return true
}

func releaseFromName(path string) string {
	rel, ok := strings.CutPrefix(filepath.Base(path), "vmlinuz-")
	if !ok || !plausibleRelease(rel) {
		return ""
	}
	return rel
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// compareVersions compares kernel releases piecewise, ignoring punctuation:
// runs of digits as numbers, runs of letters as strings, a number being
// newer than a word (6.1.0-10 > 6.1.0-rc1) and a longer release newer than
// its prefix (6.1.0-1 > 6.1.0). It returns -1, 0 or +1.
func compareVersions(a, b string) int {
	ta, tb := versionTokens(a), versionTokens(b)
	for i := 0; i < len(ta) && i < len(tb); i++ {
		x, y := ta[i], tb[i]
		dx, dy := isDigit(x[0]), isDigit(y[0])
		switch {
		case dx && dy:
			x, y = strings.TrimLeft(x, "0"), strings.TrimLeft(y, "0")
			if c := cmp.Compare(len(x), len(y)); c != 0 {
				return c
			}
			if c := strings.Compare(x, y); c != 0 {
				return c
			}
		case dx != dy:
			if dx {
				return 1
			}
			return -1
		default:
			if c := strings.Compare(x, y); c != 0 {
				return c
			}
		}
	}
	if c := cmp.Compare(len(ta), len(tb)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// versionTokens splits s into runs of digits and runs of letters, dropping
// everything else.
func versionTokens(s string) []string {
	var toks []string
	for i := 0; i < len(s); {
		if !isAlnum(s[i]) {
			i++
			continue
		}
		j := i + 1
		for j < len(s) && isAlnum(s[j]) && isDigit(s[j]) == isDigit(s[i]) {
			j++
		}
		toks = append(toks, s[i:j])
		i = j
	}
	return toks
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isAlnum(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
