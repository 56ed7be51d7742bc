package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/vmtest/vmtest/lang"
	"github.com/vmtest/vmtest/vm/wire"
)

// File is a file, directory or symbolic link of a machine's files key:
// a wire.File whose owner is still a name (or number) until Define
// resolves it against the machine's users and groups.
type File struct {
	wire.File
	Owner string // user name or uid; "" is root
	Group string // group name or gid; "" is the owner's primary group
}

// User is a user account a machine adds to the host's.
type User struct {
	Name string
	// UID is the user id; -1 picks the first free one from 1000 up (a
	// system user: from 999 down).
	UID int
	// Group is the primary group (a name); "" makes a group named after
	// the user, with the uid as gid if that is free.
	Group string
	// Groups are supplementary groups, the host's or the machine's.
	Groups      []string
	Home        string // "" is /home/<name> (a system user: /nonexistent, not made)
	Shell       string // "" is /bin/bash if the host has it, else /bin/sh (a system user: /usr/sbin/nologin)
	Description string
	System      bool
	// HashedPassword is a crypt(3) hash for /etc/shadow; "" leaves the
	// account without a password ("*"): no password login, but keys work.
	HashedPassword string
}

// Group is a group a machine adds to the host's.
type Group struct {
	Name   string
	GID    int // -1 picks a free one, as User.UID
	System bool
}

var accountName = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// CheckAccountName reports whether name is a valid user or group name.
func CheckAccountName(name string) error {
	if !accountName.MatchString(name) {
		return fmt.Errorf("%q is not a user or group name: lower-case letters, digits, _ and -, starting with a letter or _, at most 32", name)
	}
	return nil
}

// account is one line of /etc/passwd or /etc/group, split at colons.
type account []string

// etcTable is /etc/passwd or /etc/group: lines in order, and the
// accounts among them by name and by id.
type etcTable struct {
	lines  []string
	byName map[string]int // line index
	ids    map[int]string // id to name
}

func parseEtc(data string) *etcTable {
	t := &etcTable{byName: map[string]int{}, ids: map[int]string{}}
	for _, l := range strings.Split(strings.TrimRight(data, "\n"), "\n") {
		if l == "" {
			continue
		}
		t.lines = append(t.lines, l)
		f := strings.Split(l, ":")
		if len(f) < 4 || strings.HasPrefix(l, "#") {
			continue
		}
		t.byName[f[0]] = len(t.lines) - 1
		if id, err := strconv.Atoi(f[2]); err == nil {
			if _, taken := t.ids[id]; !taken {
				t.ids[id] = f[0]
			}
		}
	}
	return t
}

func (t *etcTable) add(fields ...string) {
	t.lines = append(t.lines, strings.Join(fields, ":"))
	t.byName[fields[0]] = len(t.lines) - 1
	id, _ := strconv.Atoi(fields[2])
	t.ids[id] = fields[0]
}

func (t *etcTable) get(name string) (account, bool) {
	i, ok := t.byName[name]
	if !ok {
		return nil, false
	}
	return strings.Split(t.lines[i], ":"), true
}

func (t *etcTable) set(name string, a account) { t.lines[t.byName[name]] = strings.Join(a, ":") }

func (t *etcTable) names() []string {
	var n []string
	for k := range t.byName {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}

// free returns the first id not taken, counting up from 1000 or, for a
// system account, down from 999; taken also excludes ids of other.
func (t *etcTable) free(system bool, other *etcTable) (int, error) {
	taken := func(id int) bool {
		_, a := t.ids[id]
		_, b := other.ids[id]
		return a || b
	}
	if system {
		for id := 999; id >= 100; id-- {
			if !taken(id) {
				return id, nil
			}
		}
	} else {
		for id := 1000; id < 60000; id++ {
			if !taken(id) {
				return id, nil
			}
		}
	}
	return 0, errors.New("no free id")
}

func (t *etcTable) String() string { return strings.Join(t.lines, "\n") + "\n" }

// hostFile reads a file of the host root (the guests' lower layer), or
// the machine's own version of it when its files key replaces it.
func (s *Spec) hostFile(root, path string) (string, error) {
	for _, f := range s.Files {
		if f.Path == path && f.Kind == "" && !f.Append {
			return string(f.Data), nil
		}
	}
	b, err := os.ReadFile(filepath.Join(root, path))
	return string(b), err
}

// bootFiles returns everything written into the machine's root at boot,
// in order: the accounts (/etc/passwd, /etc/group and /etc/shadow,
// /etc/gshadow entries, home directories), then the files key, each with
// its owner resolved to ids. root is the host root the guests see.
func (s *Spec) bootFiles(root string) ([]wire.File, error) {
	needed := len(s.Users) > 0 || len(s.Groups) > 0
	for _, f := range s.Files {
		needed = needed || f.Owner != "" || f.Group != ""
	}
	if !needed {
		out := make([]wire.File, len(s.Files))
		for i, f := range s.Files {
			out[i] = f.File
		}
		return out, nil
	}
	passwd, group, err := s.etcTables(root)
	if err != nil {
		return nil, err
	}
	var out []wire.File
	if len(s.Users) > 0 || len(s.Groups) > 0 {
		files, err := s.accountFiles(root, passwd, group)
		if err != nil {
			return nil, fmt.Errorf("machine %s: %w", s.Name, err)
		}
		out = append(out, files...)
	}
	for _, f := range s.Files {
		if len(out) > 0 && (f.Path == "/etc/passwd" || f.Path == "/etc/group") && f.Kind == "" && !f.Append {
			continue // the base of the accounts above
		}
		wf := f.File
		if wf.UID, wf.GID, err = resolveOwner(f.Owner, f.Group, passwd, group); err != nil {
			return nil, fmt.Errorf("machine %s: files: %s: %w", s.Name, f.Path, err)
		}
		out = append(out, wf)
	}
	return out, nil
}

// accountFiles adds the machine's groups and users to passwd and group
// and returns the files that make them in the guest.
func (s *Spec) accountFiles(root string, passwd, group *etcTable) ([]wire.File, error) {
	var shadow, gshadow strings.Builder
	// Groups first (explicit ids before picked ones), so users can name
	// them.
	for _, pass := range []bool{true, false} {
		for _, g := range s.Groups {
			if (g.GID >= 0) != pass {
				continue
			}
			if _, exists := group.get(g.Name); exists {
				return nil, fmt.Errorf("groups: %s: the group exists already (in /etc/group)", g.Name)
			}
			gid := g.GID
			if gid < 0 {
				var err error
				if gid, err = group.free(g.System, &etcTable{}); err != nil {
					return nil, fmt.Errorf("groups: %s: %w", g.Name, err)
				}
			} else if other, taken := group.ids[gid]; taken {
				return nil, fmt.Errorf("groups: %s: gid %d is group %s's already", g.Name, gid, other)
			}
			group.add(g.Name, "x", strconv.Itoa(gid), "")
			fmt.Fprintf(&gshadow, "%s:!::\n", g.Name)
		}
	}
	var homes []wire.File
	for _, pass := range []bool{true, false} {
		for _, u := range s.Users {
			if (u.UID >= 0) != pass {
				continue
			}
			if _, exists := passwd.get(u.Name); exists {
				return nil, fmt.Errorf("users: %s: the user exists already (in /etc/passwd)", u.Name)
			}
			uid := u.UID
			if uid < 0 {
				var err error
				// A user-private group gets the uid as gid: keep both free.
				other := group
				if u.Group != "" {
					other = &etcTable{}
				}
				if uid, err = passwd.free(u.System, other); err != nil {
					return nil, fmt.Errorf("users: %s: %w", u.Name, err)
				}
			} else if other, taken := passwd.ids[uid]; taken {
				return nil, fmt.Errorf("users: %s: uid %d is user %s's already", u.Name, uid, other)
			}
			var gid int
			if u.Group == "" {
				if _, exists := group.get(u.Name); exists {
					return nil, fmt.Errorf("users: %s: a group %s exists already; give the user's group with group=", u.Name, u.Name)
				}
				gid = uid
				if _, taken := group.ids[gid]; taken {
					var err error
					if gid, err = group.free(u.System, &etcTable{}); err != nil {
						return nil, fmt.Errorf("users: %s: %w", u.Name, err)
					}
				}
				group.add(u.Name, "x", strconv.Itoa(gid), "")
				fmt.Fprintf(&gshadow, "%s:!::\n", u.Name)
			} else {
				g, ok := group.get(u.Group)
				if !ok {
					return nil, noSuch("users: "+u.Name+": group", "group", u.Group, group.names())
				}
				gid, _ = strconv.Atoi(g[2])
			}
			home, shell := u.Home, u.Shell
			makeHome := !u.System || home != ""
			if home == "" {
				home = "/home/" + u.Name
				if u.System {
					home = "/nonexistent"
				}
			}
			if shell == "" {
				shell = "/bin/sh"
				if u.System {
					shell = "/usr/sbin/nologin"
				} else if _, err := os.Stat(filepath.Join(root, "bin/bash")); err == nil {
					shell = "/bin/bash"
				}
			}
			passwd.add(u.Name, "x", strconv.Itoa(uid), strconv.Itoa(gid), u.Description, home, shell)
			hash := u.HashedPassword
			if hash == "" {
				hash = "*"
			}
			fmt.Fprintf(&shadow, "%s:%s:19000:0:99999:7:::\n", u.Name, hash)
			if makeHome {
				homes = append(homes, wire.File{Path: home, Kind: wire.FileDir, Mode: 0o755, UID: uid, GID: gid})
			}
		}
	}
	// Supplementary groups, the host's included.
	for _, u := range s.Users {
		for _, gname := range u.Groups {
			g, ok := group.get(gname)
			if !ok {
				return nil, noSuch("users: "+u.Name+": groups", "group", gname, group.names())
			}
			for len(g) < 4 {
				g = append(g, "")
			}
			members := strings.Split(g[3], ",")
			if g[3] == "" {
				members = nil
			}
			if !slices.Contains(members, u.Name) {
				g[3] = strings.Join(append(members, u.Name), ",")
				group.set(gname, g)
			}
		}
	}
	files := []wire.File{
		{Path: "/etc/passwd", Mode: 0o644, Data: []byte(passwd.String())},
		{Path: "/etc/group", Mode: 0o644, Data: []byte(group.String())},
	}
	if shadow.Len() > 0 {
		files = append(files, wire.File{Path: "/etc/shadow", Mode: 0o640, Data: []byte(shadow.String()), Append: true})
	}
	if gshadow.Len() > 0 {
		files = append(files, wire.File{Path: "/etc/gshadow", Mode: 0o640, Data: []byte(gshadow.String()), Append: true})
	}
	return append(files, homes...), nil
}

// resolveOwner returns the ids of a file's owner and group: names of
// passwd and group, or numbers. The group defaults to the owner's
// primary group.
func resolveOwner(owner, grp string, passwd, group *etcTable) (uid, gid int, err error) {
	if owner != "" {
		if n, err := strconv.Atoi(owner); err == nil {
			uid = n
		} else if u, ok := passwd.get(owner); ok {
			uid, _ = strconv.Atoi(u[2])
			gid, _ = strconv.Atoi(u[3])
		} else {
			return 0, 0, noSuch("owner", "user", owner, passwd.names())
		}
	}
	if grp != "" {
		if n, err := strconv.Atoi(grp); err == nil {
			gid = n
		} else if g, ok := group.get(grp); ok {
			gid, _ = strconv.Atoi(g[2])
		} else {
			return 0, 0, noSuch("group", "group", grp, group.names())
		}
	}
	return uid, gid, nil
}

// noSuch is the error of a name (of a user or group: kind) that is not
// among known, suggesting the nearest.
func noSuch(what, kind, name string, known []string) error {
	msg := fmt.Sprintf("%s: no %s %s", what, kind, name)
	if s := lang.Suggest(name, known); s != "" {
		msg += " (did you mean " + s + "?)"
	}
	return errors.New(msg)
}
