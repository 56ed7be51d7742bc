//go:build linux

package agent

import (
	"bufio"
	"bytes"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// tmpfilesDirs are where tmpfiles.d(5) configuration is, the first
// having precedence for a file name.
var tmpfilesDirs = []string{"/etc/tmpfiles.d", "/run/tmpfiles.d", "/usr/lib/tmpfiles.d"}

// tmpfilesSkip are paths systemd creates at boot only to remove them at
// its end: /run/nologin would keep users other than root from logging in.
var tmpfilesSkip = map[string]bool{"/run/nologin": true}

// prepareRun fills the fresh /run under root (the machine's root, "/" in
// the guest) as systemd-tmpfiles --create --boot would, for the lines that
// services expect there: directories (d, D), symbolic links (L) and files
// (f) below /run. Packages put their runtime directories there
// (/run/postgresql, /run/lock, ...). Lines with specifiers other than %%,
// and every other type, are left out. Errors are skipped: it is best
// effort, as systemd's is.
func prepareRun(root string) {
	files := map[string]string{}
	for _, d := range tmpfilesDirs {
		entries, _ := os.ReadDir(filepath.Join(root, d))
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".conf") {
				if _, seen := files[e.Name()]; !seen {
					files[e.Name()] = filepath.Join(root, d, e.Name())
				}
			}
		}
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := os.ReadFile(files[n])
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			tmpfilesLine(root, sc.Text())
		}
	}
}

// tmpfilesLine applies one line of a tmpfiles.d file.
func tmpfilesLine(root, line string) {
	f := strings.Fields(line)
	if len(f) < 2 || strings.HasPrefix(f[0], "#") {
		return
	}
	typ, p := strings.TrimRight(f[0], "+!-=~^"), f[1]
	if !strings.HasPrefix(p, "/run/") || tmpfilesSkip[p] || strings.Contains(strings.ReplaceAll(p, "%%", ""), "%") {
		return
	}
	p = strings.ReplaceAll(p, "%%", "%")
	field := func(i int) string {
		if i < len(f) && f[i] != "-" {
			return f[i]
		}
		return ""
	}
	full := filepath.Join(root, p)
	switch typ {
	case "d", "D":
		if err := os.MkdirAll(full, 0o755); err != nil {
			return
		}
		setAttrs(full, field(2), field(3), field(4), 0o755)
	case "f":
		if _, err := os.Lstat(full); err == nil {
			return
		}
		arg := strings.Join(f[min(6, len(f)):], " ")
		if err := os.WriteFile(full, []byte(unquoteEnv(arg)), 0o644); err != nil {
			return
		}
		setAttrs(full, field(2), field(3), field(4), 0o644)
	case "L":
		if _, err := os.Lstat(full); err == nil || len(f) < 7 {
			return
		}
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.Symlink(f[6], full)
	}
}

// setAttrs sets the mode ("" for def; a leading ~ is dropped), user and
// group (names or ids; "" for root) of a path tmpfiles made.
func setAttrs(p, mode, owner, group string, def uint32) {
	m := def
	if mode != "" {
		if n, err := strconv.ParseUint(strings.TrimLeft(mode, "~:"), 8, 32); err == nil {
			m = uint32(n)
		}
	}
	uid, gid := 0, 0
	if owner != "" {
		if n, err := strconv.Atoi(owner); err == nil {
			uid = n
		} else if u, err := user.Lookup(owner); err == nil {
			uid, _ = strconv.Atoi(u.Uid)
			if group == "" {
				gid, _ = strconv.Atoi(u.Gid)
			}
		}
	}
	if group != "" {
		if n, err := lookupGroup(group); err == nil {
			gid = n
		}
	}
	os.Chown(p, uid, gid)
	unix.Chmod(p, m)
}
