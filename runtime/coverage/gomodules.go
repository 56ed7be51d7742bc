package coverage

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
)

// goModuleDepth is how far below a search directory go.mod files are
// looked for.
const goModuleDepth = 3

// findGoModules maps the module paths of the go.mod files found from
// dirs to their directories: in each dir and its parents, and in its
// subdirectories down to goModuleDepth levels (skipping hidden
// directories, vendor and testdata). Go coverage names source files by
// import path; these are where such names are looked up. The first
// directory found for a module path wins.
func findGoModules(dirs []string) map[string]string {
	mods := map[string]string{}
	add := func(dir string) {
		if p := modulePath(filepath.Join(dir, "go.mod")); p != "" {
			if _, ok := mods[p]; !ok {
				mods[p] = dir
			}
		}
	}
	for _, d := range dirs {
		d, err := filepath.Abs(d)
		if err != nil {
			continue
		}
		for up := d; ; up = filepath.Dir(up) {
			add(up)
			if filepath.Dir(up) == up {
				break
			}
		}
		walkDirs(d, goModuleDepth, add)
	}
	return mods
}

// walkDirs calls fn for every subdirectory of dir down to depth levels.
func walkDirs(dir string, depth int, fn func(string)) {
	if depth == 0 {
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() || strings.HasPrefix(n, ".") || n == "vendor" || n == "testdata" || n == "node_modules" {
			continue
		}
		sub := filepath.Join(dir, n)
		fn(sub)
		walkDirs(sub, depth-1, fn)
	}
}

// modulePath returns the module path declared by the go.mod file at
// path, or "" if there is none.
func modulePath(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, "//"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if rest, ok := strings.CutPrefix(line, "module"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t' || rest[0] == '"') {
			return strings.Trim(strings.TrimSpace(rest), `"`+"`")
		}
	}
	return ""
}

// resolveGoFile returns the host path of a source file named as Go
// coverage names it: an import path and file name
// ("example.com/m/pkg/x.go", looked up in the module whose path is its
// longest prefix), or an absolute path (files outside any module). ok is
// false when no module matches or the file does not exist.
func resolveGoFile(mods map[string]string, name string) (path string, ok bool) {
	if filepath.IsAbs(name) {
		_, err := os.Stat(name)
		return name, err == nil
	}
	best := ""
	for mod := range mods {
		if strings.HasPrefix(name, mod+"/") && len(mod) > len(best) {
			best = mod
		}
	}
	if best == "" {
		return "", false
	}
	p := filepath.Join(mods[best], filepath.FromSlash(strings.TrimPrefix(name, best+"/")))
	_, err := os.Stat(p)
	return p, err == nil
}
