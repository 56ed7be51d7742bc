package unitfile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// FS is the file system units are read from: absolute paths, symbolic
// links followed by ReadFile.
type FS interface {
	ReadFile(name string) ([]byte, error)
	// ReadDir returns the names in a directory (an error if there is
	// none).
	ReadDir(name string) ([]string, error)
	// Readlink returns a symbolic link's target (an error if name is not
	// a link).
	Readlink(name string) (string, error)
}

// SearchPath is where unit files are looked for, the first that has one
// winning (as systemd's system units, without generators).
var SearchPath = []string{"/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"}

// Unit is a unit file read with its drop-ins.
type Unit struct {
	// Name is the unit's full name as asked for ("postgresql@15-main.service").
	Name string
	// Path is the file read (for a template instance, the template's).
	Path string
	// Sections are the file's, then each drop-in's, in order.
	Sections []Section
}

// Prefix is the name before "@" (or the whole name) without the type
// suffix; Instance what is between "@" and the suffix.
func (u *Unit) Prefix() string {
	base := strings.TrimSuffix(u.Name, path.Ext(u.Name))
	p, _, _ := strings.Cut(base, "@")
	return p
}

// Instance is the instance name of a template unit ("" if none).
func (u *Unit) Instance() string {
	base := strings.TrimSuffix(u.Name, path.Ext(u.Name))
	_, i, _ := strings.Cut(base, "@")
	return i
}

// ErrNotFound is wrapped by Load's error when no unit file has the name.
var ErrNotFound = errors.New("no such unit")

// Load reads the unit called name (".service" is added when it has no
// type suffix) from fsys: its file in the search path (a template's for
// an instance, foo@.service for foo@bar.service) and its drop-ins
// (NAME.d/*.conf, and the template's, ordered by file name, /etc first
// for the same file name). A masked unit (a link to /dev/null, or an
// empty file) is an error. Cancelling ctx stops the parsing.
func Load(ctx context.Context, fsys FS, name string) (*Unit, error) {
	if path.Ext(name) == "" {
		name += ".service"
	}
	if path.Ext(name) != ".service" {
		return nil, fmt.Errorf("unit %s: vmtest runs .service units only", name)
	}
	u := &Unit{Name: name}
	base := strings.TrimSuffix(name, path.Ext(name))
	template := ""
	if p, inst, ok := strings.Cut(base, "@"); ok {
		if inst == "" {
			return nil, fmt.Errorf("unit %s is a template: name an instance, such as %s@NAME", name, p)
		}
		template = p + "@" + path.Ext(name)
	}
	candidates := []string{name}
	if template != "" {
		candidates = append(candidates, template)
	}
	var data []byte
	for _, c := range candidates {
		for _, dir := range SearchPath {
			p := path.Join(dir, c)
			if target, err := fsys.Readlink(p); err == nil && target == "/dev/null" {
				return nil, fmt.Errorf("unit %s is masked (%s links to /dev/null)", name, p)
			}
			b, err := fsys.ReadFile(p)
			if err != nil {
				continue
			}
			if len(strings.TrimSpace(string(b))) == 0 {
				return nil, fmt.Errorf("unit %s is masked (%s is empty)", name, p)
			}
			u.Path, data = p, b
			break
		}
		if u.Path != "" {
			break
		}
	}
	if u.Path == "" {
		return nil, fmt.Errorf("%w %s in %s", ErrNotFound, name, strings.Join(SearchPath, ", "))
	}
	secs, err := parse(ctx, u.Path, data)
	if err != nil {
		return nil, err
	}
	u.Sections = secs

	// Drop-ins: by file name; the first directory in the search path,
	// and the instance's own directory before the template's, wins.
	dropins := map[string]string{}
	for _, c := range candidates {
		for _, dir := range SearchPath {
			d := path.Join(dir, c+".d")
			names, err := fsys.ReadDir(d)
			if err != nil {
				continue
			}
			for _, n := range names {
				if !strings.HasSuffix(n, ".conf") {
					continue
				}
				if _, seen := dropins[n]; !seen {
					dropins[n] = path.Join(d, n)
				}
			}
		}
	}
	var names []string
	for n := range dropins {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := dropins[n]
		if target, err := fsys.Readlink(p); err == nil && target == "/dev/null" {
			continue // a masked drop-in
		}
		b, err := fsys.ReadFile(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("unit %s: drop-in %s: %w", name, p, err)
		}
		secs, err := parse(ctx, p, b)
		if err != nil {
			return nil, err
		}
		u.Sections = append(u.Sections, secs...)
	}
	return u, nil
}
