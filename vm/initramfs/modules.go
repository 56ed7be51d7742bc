package initramfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// DefaultModules returns the modules every vmtest guest loads at boot,
// before it says hello: virtio transport and console, the 9p root file
// system and overlayfs. Names built into the kernel are skipped by Resolve.
// Each call returns a new slice.
func DefaultModules() []string {
	return []string{"virtio_pci", "virtio_console", "9pnet_virtio", "9p", "overlay", "af_packet"}
}

// OnDemandModules returns the module groups a guest loads only when it has
// the devices they drive, by group name: "disk" (ext4 for the upper layer,
// and virtio_blk) when it has a virtio disk, "net" (virtio_net) when it has
// a virtio NIC. The agent loads them at boot, before its hello, so that a
// boot snapshot holds them loaded; virtio_blk is kept from binding to the
// disk until configure, as its probe reads the disk, which belongs to one
// machine. Under software emulation ext4 alone takes over 100 ms to load;
// a machine without a disk does not pay for it.
func OnDemandModules() map[string][]string {
	return map[string][]string{
		"disk": {"ext4", "virtio_blk"},
		"net":  {"virtio_net"},
	}
}

// DisplayModules returns the modules of a machine with a display, in an
// initramfs of its own (see vm.Artifacts): bochs, the DRM driver of QEMU's
// standard VGA (and bochs-display), whose frame buffer the kernel's
// built-in fbcon takes over for the text consoles; and evdev, so that the
// keyboard is also /dev/input/event*, as an X server wants it. The agent
// loads them at boot, as group "display", when the machine has that
// device. They are about 2 MB, which every other machine would otherwise
// unpack at each cold boot; loading them takes over a second under
// software emulation, so a machine without a display pays nothing for
// them.
func DisplayModules() []string { return []string{"bochs", "evdev"} }

// Resolve returns the files of the named kernel modules and of everything
// they need, in an order they can be loaded in: each module after its
// dependencies, each once. Paths are relative to modulesDir, as modules.dep
// writes them (e.g. kernel/fs/ext4/ext4.ko, or .ko.xz, .ko.zst: compressed
// modules are carried as they are).
//
// As with modprobe, "-" and "_" in names are interchangeable, and a name may
// also be an alias from modules.alias (e.g. fs-ext4). Dependencies come from
// modules.dep; "pre:" and "post:" soft dependencies from modules.softdep are
// included too when they can be found (ext4 needs crc32c at mount time, and
// the guest has no modprobe to fetch it then). Names listed in
// modules.builtin are skipped silently: they are part of the kernel. An
// unknown name is an error that suggests the nearest known module name.
func Resolve(modulesDir string, names []string) ([]string, error) {
	idx, err := loadIndex(modulesDir)
	if err != nil {
		return nil, err
	}
	r := resolver{idx: idx, state: map[string]int{}}
	var unknown []string
	for _, name := range names {
		paths, builtin, err := idx.lookup(name)
		if err != nil {
			return nil, err
		}
		if len(paths) == 0 && !builtin {
			unknown = append(unknown, name)
			continue
		}
		for _, p := range paths {
			if err := r.visit(p); err != nil {
				return nil, err
			}
		}
	}
	if len(unknown) > 0 {
		var parts []string
		for _, name := range unknown {
			s := fmt.Sprintf("%q", name)
			if near := idx.nearest(name); near != "" {
				s += fmt.Sprintf(" (did you mean %q?)", near)
			}
			parts = append(parts, s)
		}
		return nil, fmt.Errorf("unknown kernel module %s: want a name from %s, modules.builtin or modules.alias, found none", strings.Join(parts, ", "), filepath.Join(modulesDir, "modules.dep"))
	}
	return r.order, nil
}

type resolver struct {
	idx   *index
	state map[string]int // path -> 1 visiting, 2 done
	order []string
}

func (r *resolver) visit(p string) error {
	if r.state[p] != 0 {
		return nil // done, or a soft dependency cycle: load order is then arbitrary
	}
	r.state[p] = 1
	sd := r.idx.softdeps[moduleName(p)]
	if err := r.visitSoft(sd.pre); err != nil {
		return err
	}
	deps := r.idx.deps[p]
	// modules.dep lists dependencies in the reverse of the order modprobe
	// loads them.
	for i := len(deps) - 1; i >= 0; i-- {
		if err := r.visit(deps[i]); err != nil {
			return err
		}
	}
	r.order = append(r.order, p)
	r.state[p] = 2
	return r.visitSoft(sd.post)
}

func (r *resolver) visitSoft(names []string) error {
	for _, name := range names {
		paths, _, err := r.idx.lookup(name)
		if err != nil {
			return err
		}
		for _, p := range paths { // unknown soft dependencies are skipped, as modprobe does
			if err := r.visit(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// index is what Resolve reads from a modules directory.
type index struct {
	dir      string
	deps     map[string][]string // path -> dependency paths
	byName   map[string]string   // normalised module name -> path
	builtin  map[string]bool     // normalised names of built-in modules
	softdeps map[string]softdep  // normalised module name -> soft dependencies

	aliasesLoaded bool
	aliases       map[string][]string // exact (glob-free) alias -> module names
}

type softdep struct{ pre, post []string }

func loadIndex(dir string) (*index, error) {
	idx := &index{
		dir:      dir,
		deps:     map[string][]string{},
		byName:   map[string]string{},
		builtin:  map[string]bool{},
		softdeps: map[string]softdep{},
	}
	dep, err := os.ReadFile(filepath.Join(dir, "modules.dep"))
	if err != nil {
		hint := fmt.Sprintf("run depmod %s", filepath.Base(dir))
		if errors.Is(err, fs.ErrNotExist) {
			hint = fmt.Sprintf("install the kernel's modules (apt-get install linux-image-%s) or run depmod %s", filepath.Base(dir), filepath.Base(dir))
		}
		return nil, fmt.Errorf("cannot read the module list: %w; %s", err, hint)
	}
	for _, line := range lines(dep) {
		mod, rest, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%s: want \"module: dependencies\", found %q; run depmod %s", filepath.Join(dir, "modules.dep"), line, filepath.Base(dir))
		}
		mod = strings.TrimSpace(mod)
		idx.deps[mod] = strings.Fields(rest)
		if _, dup := idx.byName[moduleName(mod)]; !dup { // depmod lists the preferred one first
			idx.byName[moduleName(mod)] = mod
		}
	}
	builtin, err := readOptional(filepath.Join(dir, "modules.builtin"))
	if err != nil {
		return nil, err
	}
	for _, line := range lines(builtin) {
		idx.builtin[moduleName(line)] = true
	}
	soft, err := readOptional(filepath.Join(dir, "modules.softdep"))
	if err != nil {
		return nil, err
	}
	for _, line := range lines(soft) {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "softdep" {
			continue
		}
		var sd softdep
		list := &sd.pre
		for _, w := range f[2:] {
			switch w {
			case "pre:":
				list = &sd.pre
			case "post:":
				list = &sd.post
			default:
				*list = append(*list, w)
			}
		}
		name := normalize(f[1])
		old := idx.softdeps[name]
		idx.softdeps[name] = softdep{append(old.pre, sd.pre...), append(old.post, sd.post...)}
	}
	return idx, nil
}

// lookup returns the module files a name stands for: a module, or the
// modules an alias names. builtin reports that it is part of the kernel.
// Both empty: unknown.
func (idx *index) lookup(name string) (paths []string, builtin bool, err error) {
	n := normalize(strings.TrimSuffix(name, ".ko"))
	if p, ok := idx.byName[n]; ok {
		return []string{p}, false, nil
	}
	if idx.builtin[n] {
		return nil, true, nil
	}
	if err := idx.loadAliases(); err != nil {
		return nil, false, err
	}
	targets := idx.aliases[name]
	if len(targets) == 0 {
		targets = idx.aliases[n]
	}
	for _, t := range targets {
		if p, ok := idx.byName[t]; ok {
			paths = append(paths, p)
		} else if idx.builtin[t] {
			builtin = true
		}
	}
	return paths, builtin, nil
}

// loadAliases reads the glob-free aliases of modules.alias and
// modules.builtin.modinfo, once, when a name is neither a module nor built
// in.
func (idx *index) loadAliases() error {
	if idx.aliasesLoaded {
		return nil
	}
	idx.aliasesLoaded = true
	idx.aliases = map[string][]string{}
	b, err := readOptional(filepath.Join(idx.dir, "modules.alias"))
	if err != nil {
		return err
	}
	// Most of the file is device aliases with wildcards: skip those lines
	// without making strings of them.
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte{'\n'})
		if !bytes.HasPrefix(line, []byte("alias ")) || bytes.ContainsAny(line, "*?[") {
			continue
		}
		f := strings.Fields(string(line))
		if len(f) == 3 {
			idx.aliases[f[1]] = append(idx.aliases[f[1]], normalize(f[2]))
		}
	}
	// modules.builtin.modinfo: NUL-separated "module.key=value" strings.
	b, err = readOptional(filepath.Join(idx.dir, "modules.builtin.modinfo"))
	if err != nil {
		return err
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		mod, alias, ok := strings.Cut(string(kv), ".alias=")
		if ok && !strings.ContainsAny(alias, "*?[") {
			idx.aliases[alias] = append(idx.aliases[alias], normalize(mod))
		}
	}
	return nil
}

// nearest returns the known module name closest to name, or "" if none is
// reasonably close.
func (idx *index) nearest(name string) string {
	n := normalize(name)
	best, bestDist := "", len(n)/2+2
	consider := func(cand string) {
		if d := levenshtein(n, cand); d < bestDist || d == bestDist && cand < best {
			best, bestDist = cand, d
		}
	}
	names := make([]string, 0, len(idx.byName)+len(idx.builtin))
	for c := range idx.byName {
		names = append(names, c)
	}
	for c := range idx.builtin {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		consider(c)
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// moduleName returns the normalised name of the module file p:
// kernel/drivers/char/hw_random/virtio-rng.ko.xz -> virtio_rng.
func moduleName(p string) string {
	base := path.Base(p)
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if s, ok := strings.CutSuffix(base, ext); ok {
			base = s
			break
		}
	}
	return normalize(base)
}

func normalize(name string) string { return strings.ReplaceAll(name, "-", "_") }

// lines returns the non-empty, non-comment lines of b, trimmed.
func lines(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && line[0] != '#' {
			out = append(out, line)
		}
	}
	return out
}

func readOptional(p string) ([]byte, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read module information: %w", err)
	}
	return b, nil
}
