// Package activate converges a running machine from one declaration to
// another, as NixOS's switch-to-configuration does: it compares the two
// (the files they put on the machine, users and groups included, and the
// systemd units they run), makes a Plan of what to write and remove and
// which units to stop, start, restart and reload, and applies it through
// the machine's guest calls (package vm/guest), whatever kind the machine
// is: a test's guest (m.switch()) or a real host over SSH (vmtest deploy).
//
// Which units a change touches follows switch-to-configuration:
//
//   - a unit the new declaration adds is started, one it drops is stopped;
//   - a unit whose declared files (its unit file, its drop-ins) changed is
//     restarted, or reloaded when only its X-Reload-Triggers= changed or it
//     says X-ReloadIfChanged=true, or left alone with
//     X-RestartIfChanged=false;
//   - a unit whose X-Restart-Triggers= (or X-Reload-Triggers=) name a
//     declared file that changed is restarted (reloaded). NixOS writes
//     hashes of the files there; vmtest's files live at fixed paths, so
//     these keys list the paths.
//
// The plan is applied in switch-to-configuration's order: stop, then
// files (written, then removed), then the manager reloads its units, then
// reload, restart, start.
package activate

import (
	"bytes"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/vmtest/vmtest/vm/wire"
)

// Config is what one declaration puts on a machine: its files (users and
// groups are files: /etc/passwd, /etc/group, homes) and the systemd units
// it runs ("nginx.service").
type Config struct {
	Files []wire.File
	Units []string
}

// Plan is what switching from one Config to another does, in order.
type Plan struct {
	Stop  []string    // units stopped first
	Write []wire.File // files written (new or changed), in the order of their paths
	// Remove are the paths the old declaration has and the new one lacks,
	// deepest first (text it appended to a file stays).
	Remove []string
	// DaemonReload: unit files changed, so the manager reloads them before
	// the units below are acted on.
	DaemonReload bool
	Reload       []string
	Restart      []string
	Start        []string
	// Kept are units whose files changed but that X-RestartIfChanged=false
	// keeps running as they are.
	Kept []string
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool {
	return len(p.Stop)+len(p.Write)+len(p.Remove)+len(p.Reload)+len(p.Restart)+len(p.Start) == 0 && !p.DaemonReload
}

// unitDirs are where declared unit files and drop-ins live.
var unitDirs = []string{"/etc/systemd/system/", "/run/systemd/system/", "/lib/systemd/system/", "/usr/lib/systemd/system/"}

// Make compares two declarations of one machine and returns the plan that
// takes it from old to new.
func Make(old, new Config) Plan {
	var p Plan
	oldFiles, newFiles := byPath(old.Files), byPath(new.Files)
	changed := map[string]bool{} // paths written or removed
	for _, f := range sortedFiles(newFiles) {
		if o, ok := oldFiles[f.Path]; !ok || !sameFile(o, f) {
			p.Write = append(p.Write, f)
			changed[f.Path] = true
		}
	}
	for _, pth := range slices.Backward(slices.Sorted(maps.Keys(oldFiles))) {
		if oldFiles[pth].Append {
			continue // text added to a file stays: the file is not the declaration's
		}
		if _, ok := newFiles[pth]; !ok {
			p.Remove = append(p.Remove, pth)
			changed[pth] = true
		}
	}
	for pth := range changed {
		if unitFile(pth) != "" {
			p.DaemonReload = true
		}
	}
	for _, u := range old.Units {
		if !slices.Contains(new.Units, u) {
			p.Stop = append(p.Stop, u)
		}
	}
	for _, u := range new.Units {
		if !slices.Contains(old.Units, u) {
			p.Start = append(p.Start, u)
			continue
		}
		switch unitAction(u, oldFiles, newFiles, changed) {
		case "reload":
			p.Reload = append(p.Reload, u)
		case "restart":
			p.Restart = append(p.Restart, u)
		case "keep":
			p.Kept = append(p.Kept, u)
		}
	}
	return p
}

// unitAction decides what a unit both declarations run needs: "",
// "reload", "restart" or "keep".
func unitAction(unit string, oldFiles, newFiles map[string]wire.File, changed map[string]bool) string {
	newKeys := unitKeys(unit, newFiles)
	if unitFilesChanged(unit, changed) {
		switch {
		case onlyReloadTriggersChanged(unit, oldFiles, newFiles):
			return "reload"
		case lastValue(newKeys["X-ReloadIfChanged"]) == "true":
			return "reload"
		case lastValue(newKeys["X-RestartIfChanged"]) == "false":
			return "keep"
		}
		return "restart"
	}
	for _, pth := range strings.Fields(strings.Join(newKeys["X-Restart-Triggers"], " ")) {
		if changed[pth] {
			return "restart"
		}
	}
	for _, pth := range strings.Fields(strings.Join(newKeys["X-Reload-Triggers"], " ")) {
		if changed[pth] {
			return "reload"
		}
	}
	return ""
}

// unitFile returns the unit a declared path is a file of (its unit file
// or a drop-in), "" if none.
func unitFile(pth string) string {
	for _, dir := range unitDirs {
		rest, ok := strings.CutPrefix(pth, dir)
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, "/")
		return strings.TrimSuffix(name, ".d")
	}
	return ""
}

// unitFilesChanged reports whether a declared file of unit changed.
func unitFilesChanged(unit string, changed map[string]bool) bool {
	for pth := range changed {
		if unitFile(pth) == unit {
			return true
		}
	}
	return false
}

// onlyReloadTriggersChanged reports whether the unit's declared files
// differ in their X-Reload-Triggers= lines alone.
func onlyReloadTriggersChanged(unit string, oldFiles, newFiles map[string]wire.File) bool {
	strip := func(files map[string]wire.File) map[string]string {
		out := map[string]string{}
		for pth, f := range files {
			if unitFile(pth) != unit {
				continue
			}
			var kept []string
			for _, l := range strings.Split(string(f.Data), "\n") {
				if !strings.HasPrefix(strings.TrimSpace(l), "X-Reload-Triggers=") {
					kept = append(kept, l)
				}
			}
			out[pth] = strings.Join(kept, "\n")
		}
		return out
	}
	return maps.Equal(strip(oldFiles), strip(newFiles))
}

// unitKeys returns the keys of the unit's declared files (unit file
// first, then drop-ins in the order of their paths), each key's values in
// order.
func unitKeys(unit string, files map[string]wire.File) map[string][]string {
	keys := map[string][]string{}
	for _, f := range sortedFiles(files) {
		if unitFile(f.Path) != unit || f.Kind != "" {
			continue
		}
		for _, l := range strings.Split(string(f.Data), "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(l), "=")
			if ok && !strings.HasPrefix(k, "#") && !strings.HasPrefix(k, ";") {
				keys[strings.TrimSpace(k)] = append(keys[strings.TrimSpace(k)], strings.TrimSpace(v))
			}
		}
	}
	return keys
}

func lastValue(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return strings.ToLower(vs[len(vs)-1])
}

func byPath(files []wire.File) map[string]wire.File {
	m := make(map[string]wire.File, len(files))
	for _, f := range files {
		m[path.Clean(f.Path)] = f
	}
	return m
}

// sortedFiles returns the files in the order of their paths, so a
// directory comes before what is in it.
func sortedFiles(m map[string]wire.File) []wire.File {
	var out []wire.File
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}

func sameFile(a, b wire.File) bool {
	return a.Mode == b.Mode && a.Kind == b.Kind && a.Append == b.Append && a.UID == b.UID && a.GID == b.GID && bytes.Equal(a.Data, b.Data)
}
