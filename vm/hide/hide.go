// Package hide keeps the host's secrets out of its guests. A guest sees
// the host's whole root over 9p; the paths this package names (Defaults,
// and what a machine adds) are hidden from it:
//
//   - in the guest, always: before anything runs, the agent puts a
//     whiteout over each hidden file and an empty opaque directory over
//     each hidden directory in the machine's upper layer (wire.Hidden),
//     so they are absent, or empty, in its root. This stops a guest from
//     reading them by accident (and leaking them into a console log), but
//     not a guest root that mounts the 9p export again.
//   - on the host, when vmtest runs as root (as CI does, and when QEMU can
//     read everything): QEMU starts in a mount namespace of its own,
//     where the directory it exports is a view of "/" with an empty
//     placeholder over each hidden path and empty file systems over /proc,
//     /sys, /dev, /run and /tmp (see View). Then not even a guest root
//     that mounts the export itself can read them.
//
// Hidden files that a guest needs to work get harmless stand-ins
// (Replacements): /etc/shadow and /etc/gshadow list the accounts with
// locked passwords, and sshd gets host keys of its own.
package hide

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vmtest/vmtest/vm/wire"
)

// Defaults are hidden from every guest unless shared back. A pattern
// starting with ~/ names that path in every home (see Homes).
var Defaults = []string{
	"/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-",
	"/etc/security/opasswd",
	"/etc/ssh/ssh_host_*_key",
	"~/.ssh", "~/.gnupg", "~/.aws", "~/.azure", "~/.config/gcloud", "~/.config/gh",
	"~/.docker/config.json", "~/.kube", "~/.netrc", "~/.git-credentials",
	"~/.pypirc", "~/.cargo/credentials", "~/.cargo/credentials.toml",
	"~/.vault-token", "~/.password-store", "~/.local/share/keyrings",
}

// EnvHide names the environment variable whose patterns (separated by
// colons) every machine of a run hides too, as if each listed them.
const EnvHide = "VMTEST_HIDE"

// FromEnv returns the patterns of $VMTEST_HIDE, checked.
func FromEnv() ([]string, error) {
	var out []string
	for _, p := range strings.Split(os.Getenv(EnvHide), ":") {
		if p == "" {
			continue
		}
		if err := CheckPattern(p); err != nil {
			return nil, fmt.Errorf("$%s: %w", EnvHide, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// CheckPattern reports what is wrong with a pattern of hide or share: it
// must be an absolute path, or one starting with ~/, clean, not "/"
// itself, with path.Match's wildcards if any.
func CheckPattern(p string) error {
	rest, home := strings.CutPrefix(p, "~/")
	if !home && !path.IsAbs(p) {
		return fmt.Errorf("%q: want an absolute path, or ~/ and a path in every home", p)
	}
	if strings.ContainsRune(p, 0) {
		return fmt.Errorf("%q: a NUL byte in a path", p)
	}
	if !home {
		rest = p[1:]
	}
	clean := path.Clean("/" + rest)
	if clean == "/" {
		return fmt.Errorf("%q: the root, or a whole home, cannot be hidden; name what is in it", p)
	}
	if clean != "/"+rest {
		return fmt.Errorf("%q: want a clean path, without a trailing /, //, . or .. parts", p)
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("%q: %w", p, err)
	}
	return nil
}

// Homes returns the home directories of the host root: /root, every
// directory of /home, every home in /etc/passwd (but /), and $HOME,
// without repeats, as paths in root.
func Homes(root string) []string {
	homes := []string{"/root"}
	if h := os.Getenv("HOME"); path.IsAbs(h) && path.Clean(h) != "/" {
		homes = append(homes, path.Clean(h))
	}
	if entries, err := os.ReadDir(filepath.Join(root, "home")); err == nil {
		for _, e := range entries {
			homes = append(homes, "/home/"+e.Name())
		}
	}
	if f, err := os.Open(filepath.Join(root, "etc/passwd")); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if fields := strings.Split(sc.Text(), ":"); len(fields) >= 6 && path.IsAbs(fields[5]) && path.Clean(fields[5]) != "/" {
				homes = append(homes, path.Clean(fields[5]))
			}
		}
		f.Close()
	}
	slices.Sort(homes)
	return slices.Compact(homes)
}

// patterns returns p as absolute patterns: one per home for ~/.
func patterns(p string, homes []string) []string {
	rest, ok := strings.CutPrefix(p, "~/")
	if !ok {
		return []string{p}
	}
	out := make([]string, len(homes))
	for i, h := range homes {
		out[i] = path.Join(h, rest)
	}
	return out
}

// Expand returns what the patterns hide name in the host root root (""
// for "/"), less what the patterns share name: each path that exists,
// its links resolved (a hidden link hides what it leads to), sorted,
// none inside another. A path is shared when a share pattern matches it
// or a directory above it, as named or as resolved. A share pattern that
// names a path inside a hidden directory is an error: a directory is
// hidden whole or not at all.
func Expand(root string, hide, share []string) ([]wire.Hidden, error) {
	if root == "" {
		root = "/"
	}
	homes := Homes(root)
	var shares []string
	for _, s := range share {
		shares = append(shares, patterns(s, homes)...)
	}
	seen := map[string]bool{}
	var out []wire.Hidden
	for _, h := range hide {
		for _, pat := range patterns(h, homes) {
			matches, _ := filepath.Glob(filepath.Join(root, pat))
			for _, m := range matches {
				as := "/" + strings.TrimPrefix(strings.TrimPrefix(m, root), "/")
				hd, ok := resolve(root, m)
				if !ok || shared(as, shares) || shared(hd.Path, shares) {
					continue
				}
				if !seen[hd.Path] {
					seen[hd.Path] = true
					out = append(out, hd)
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b wire.Hidden) int { return strings.Compare(a.Path, b.Path) })
	out = outermost(out)
	for _, s := range shares {
		for _, hd := range out {
			if hd.Dir && strings.HasPrefix(s, hd.Path+"/") {
				return nil, fmt.Errorf("share: %s is inside %s, which is hidden; share %s itself", s, hd.Path, hd.Path)
			}
		}
	}
	return out, nil
}

// outermost drops the paths of sorted that are inside a directory of
// it: hidden with it.
func outermost(sorted []wire.Hidden) []wire.Hidden {
	var out []wire.Hidden
	for _, h := range sorted {
		if n := len(out); n > 0 && out[n-1].Dir && strings.HasPrefix(h.Path, out[n-1].Path+"/") {
			continue
		}
		out = append(out, h)
	}
	return out
}

// shared reports whether a share pattern matches p or a directory above
// it.
func shared(p string, shares []string) bool {
	for q := p; q != "/"; q = path.Dir(q) {
		for _, s := range shares {
			if ok, _ := path.Match(s, q); ok {
				return true
			}
		}
	}
	return false
}

// resolve returns the hidden path of the host file m (in root): m with
// its links resolved, as a path in root, and whether it is a directory.
// ok is false when it does not resolve inside root.
func resolve(root, m string) (wire.Hidden, bool) {
	real, err := filepath.EvalSymlinks(m)
	if err != nil {
		return wire.Hidden{}, false
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return wire.Hidden{}, false
	}
	rel, err := filepath.Rel(realRoot, real)
	if err != nil || !filepath.IsLocal(rel) {
		return wire.Hidden{}, false
	}
	fi, err := os.Stat(real)
	if err != nil {
		return wire.Hidden{}, false
	}
	return wire.Hidden{Path: "/" + filepath.ToSlash(rel), Dir: fi.IsDir()}, true
}

// ForMachine returns what a machine that hides the patterns hide (besides
// Defaults and $VMTEST_HIDE) and shares the patterns share does not see
// of the host root root ("" for "/"), and the stand-ins it gets (see
// Replacements, made in cacheDir; none when cacheDir is "").
func ForMachine(root string, hide, share []string, cacheDir string) ([]wire.Hidden, []wire.File, error) {
	global, err := FromEnv()
	if err != nil {
		return nil, nil, err
	}
	hidden, err := Expand(root, slices.Concat(Defaults, global, hide), share)
	if err != nil || cacheDir == "" {
		return hidden, nil, err
	}
	stand, err := Replacements(root, hidden, cacheDir)
	return hidden, stand, err
}
