// Package initramfs builds the initial RAM filesystem a vmtest guest boots
// with: the static vmtest binary as /init (the guest agent) and the kernel
// modules it needs before it can reach the root filesystem, which it mounts
// from the host over virtio-9p.
//
// The image is an uncompressed cpio "newc" archive (the kernel unpacks that
// fastest; see Writer), written without any outside tool and cached by the
// content of everything that goes into it (see Build).
package initramfs

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/vmtest/vmtest/vm/cache"
)

// formatVersion changes whenever Build lays out the image differently, so
// that images cached by an older vmtest are not reused.
const formatVersion = "vmtest-initramfs-3" // 2: module signatures stripped; 3: on-demand groups

// Spec says what goes into an initramfs.
type Spec struct {
	Agent      string   // the static vmtest binary; becomes /init
	Release    string   // the guest kernel's release, e.g. 6.1.0-56-amd64
	ModulesDir string   // that kernel's modules, e.g. /lib/modules/6.1.0-56-amd64
	Modules    []string // modules loaded at boot, with their dependencies (e.g. DefaultModules())
	// OnDemand are further groups of modules, by name (e.g. OnDemandModules()),
	// loaded by the agent only when needed.
	OnDemand map[string][]string
	CacheDir string // where the image is cached (see package cache)
}

// resolveGroups resolves the boot modules and each on-demand group of s:
// mods is all of them, boot modules first; groups the group names in
// order; order the modules of each group ("order" for the boot modules),
// each group listing what it adds to the boot modules and to the groups
// before it.
func resolveGroups(s Spec) (mods, groups []string, order map[string][]string, err error) {
	if mods, err = Resolve(s.ModulesDir, s.Modules); err != nil {
		return nil, nil, nil, err
	}
	groups = make([]string, 0, len(s.OnDemand))
	for g := range s.OnDemand {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	seen := map[string]bool{}
	for _, m := range mods {
		seen[m] = true
	}
	order = map[string][]string{"order": mods}
	for _, g := range groups {
		gm, err := Resolve(s.ModulesDir, s.OnDemand[g])
		if err != nil {
			return nil, nil, nil, err
		}
		for _, m := range gm {
			if !seen[m] {
				seen[m] = true
				order[g] = append(order[g], m)
				mods = append(mods, m)
			}
		}
	}
	return mods, groups, order, nil
}

// Build returns the path of an initramfs for s, building it unless the cache
// holds it already. The image, <CacheDir>/initramfs-<hash>.cpio, contains:
//
//	/init                          the agent binary, mode 0755
//	/dev/console                   character device 5:1, so that /init starts with stdin, stdout and stderr
//	/dev /proc /sys /run /newroot /mnt   empty directories, mode 0755; /tmp, mode 1777
//	/lib/modules/<Release>/<path>  each module Resolve(ModulesDir, Modules) returns, same relative path
//	/modules.order                 the absolute paths of the boot modules in the guest, one per line, in load order
//	/modules.<group>               likewise for each on-demand group, less the modules listed before it
//
// The hash covers the agent's bytes, the release, the modules directory,
// the resolved module list with each file's size and modification time, and
// a format version; so a rebuilt vmtest binary or an upgraded kernel gets a
// new image, and an unchanged one is found again in a few milliseconds.
//
// The agent must be statically linked: the initramfs holds no dynamic
// loader or libraries.
func Build(s Spec) (string, error) {
	for _, f := range []struct{ name, val string }{
		{"Agent", s.Agent}, {"Release", s.Release}, {"ModulesDir", s.ModulesDir}, {"CacheDir", s.CacheDir},
	} {
		if f.val == "" {
			return "", fmt.Errorf("initramfs: Spec.%s is empty; want it set", f.name)
		}
	}
	agent, err := os.ReadFile(s.Agent)
	if err != nil {
		return "", fmt.Errorf("cannot read the agent binary: %w", err)
	}
	if err := checkStatic(s.Agent, agent); err != nil {
		return "", err
	}
	mods, groups, order, err := resolveGroups(s)
	if err != nil {
		return "", err
	}

	agentSum := sha256.Sum256(agent)
	parts := [][]byte{[]byte(formatVersion), agentSum[:], []byte(s.Release), []byte(s.ModulesDir)}
	for _, g := range append([]string{"order"}, groups...) {
		parts = append(parts, []byte("group "+g), []byte(strings.Join(order[g], " ")))
	}
	sizes := make([]int64, len(mods))
	for i, m := range mods {
		fi, err := os.Stat(filepath.Join(s.ModulesDir, m))
		if err != nil {
			return "", fmt.Errorf("module file listed in %s is missing: %w; reinstall the kernel's modules (apt-get install --reinstall linux-image-%s) or run depmod %s",
				filepath.Join(s.ModulesDir, "modules.dep"), err, s.Release, s.Release)
		}
		sizes[i] = fi.Size()
		parts = append(parts, []byte(m), []byte(strconv.FormatInt(fi.Size(), 10)), []byte(strconv.FormatInt(fi.ModTime().UnixNano(), 10)))
	}
	out := filepath.Join(s.CacheDir, "initramfs-"+cache.Key(parts...)+".cpio")
	if ok, err := cache.Exists(out); err != nil || ok {
		return out, err
	}

	err = cache.WriteAtomic(out, func(w io.Writer) error {
		cw := NewWriter(w)
		for _, d := range []string{"dev", "proc", "sys", "run", "newroot", "mnt"} {
			cw.WriteDir(d, 0o755)
		}
		cw.WriteDir("tmp", os.ModeSticky|0o777)
		cw.WriteCharDevice("dev/console", 0o600, 5, 1)
		cw.WriteFile("init", 0o755, agent)
		for i, m := range mods {
			guestPath := path.Join("/lib/modules", s.Release, m)
			if err := copyModule(cw, guestPath, filepath.Join(s.ModulesDir, m), sizes[i]); err != nil {
				return err
			}
		}
		for _, g := range append([]string{"order"}, groups...) {
			var list strings.Builder
			for _, m := range order[g] {
				list.WriteString(path.Join("/lib/modules", s.Release, m) + "\n")
			}
			cw.WriteFile("modules."+g, 0o644, []byte(list.String()))
		}
		return cw.Close()
	})
	if err != nil {
		return "", fmt.Errorf("cannot build the initramfs: %w", err)
	}
	return out, nil
}

func copyModule(cw *Writer, guestPath, hostPath string, size int64) error {
	data, err := os.ReadFile(hostPath)
	if err != nil {
		return err
	}
	return cw.WriteFile(guestPath, 0o644, stripSignature(data))
}

// sigMagic ends a module that carries an appended signature.
const sigMagic = "~Module signature appended~\n"

// stripSignature returns an uncompressed module without its appended
// signature. The guest kernel then skips hashing and RSA-verifying it,
// which under software emulation costs about half a second for the
// default modules. Signatures are not enforced in vmtest guests (no secure
// boot, no module.sig_enforce); the kernel notes the unsigned module as a
// taint and loads it. Anything that does not end as a signed module should
// is returned unchanged.
func stripSignature(m []byte) []byte {
	if !bytes.HasSuffix(m, []byte(sigMagic)) {
		return m
	}
	// struct module_signature (12 bytes) precedes the magic; its last four
	// bytes are the signature's length, big endian.
	end := len(m) - len(sigMagic)
	if end < 12 {
		return m
	}
	info := m[end-12 : end]
	sigLen := int(binary.BigEndian.Uint32(info[8:12]))
	cut := end - 12 - sigLen
	if sigLen <= 0 || cut < 0 {
		return m
	}
	return m[:cut]
}

// checkStatic refuses an agent binary that is not a statically linked ELF
// executable.
func checkStatic(name string, data []byte) error {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("agent binary %s is not an ELF executable (%w); want the vmtest binary built with CGO_ENABLED=0", name, err)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("agent binary %s is an ELF %s, not an executable; want the vmtest binary built with CGO_ENABLED=0", name, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("agent binary %s is dynamically linked; build vmtest with CGO_ENABLED=0", name)
		}
	}
	return nil
}
