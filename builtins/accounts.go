package builtins

import (
	"fmt"
	"slices"
	"strings"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/runtime"
)

// maxID is the largest user or group id: 2^32-1 is (uid_t)-1, "none".
const maxID = 1<<32 - 2

// accountID reads a user or group id; its error completes "want a user
// id ...".
func accountID(v starlark.Value, id *int) error {
	if _, ok := v.(starlark.Int); !ok {
		return fmt.Errorf("(int), got %s", v.Type())
	}
	if err := starlark.AsInt(v, id); err != nil || *id < 0 || *id > maxID {
		return fmt.Errorf("from 0 to %d, got %s", maxID, v)
	}
	return nil
}

// userKeys are the keys of a user's dict in users = {...}.
var userKeys = []string{"uid", "group", "groups", "home", "shell", "description", "system", "hashed_password"}

// setUsers reads users = {"name": {...}}: user accounts added to the
// host's.
func setUsers(s *runtime.Spec, v starlark.Value) error {
	items, err := dictItems(v, "user names to dicts")
	if err != nil {
		return err
	}
	s.Users = nil
	for _, it := range items {
		u := runtime.User{Name: string(it[0].(starlark.String)), UID: -1}
		if err := runtime.CheckAccountName(u.Name); err != nil {
			return err
		}
		d, ok := it[1].(*starlark.Dict)
		if !ok {
			return fmt.Errorf("%s: want a dict of %s (or {}), got %s", u.Name, strings.Join(userKeys, ", "), it[1].Type())
		}
		attrs, err := dictItems(d, "user attributes")
		if err != nil {
			return fmt.Errorf("%s: %w", u.Name, err)
		}
		for _, a := range attrs {
			k, val := string(a[0].(starlark.String)), a[1]
			bad := func(want string) error { return fmt.Errorf("%s: %s: want %s, got %s", u.Name, k, want, val.Type()) }
			switch k {
			case "uid":
				if err := accountID(val, &u.UID); err != nil {
					return fmt.Errorf("%s: uid: want a user id %w", u.Name, err)
				}
			case "group", "home", "shell", "description", "hashed_password":
				str, ok := starlark.AsString(val)
				if !ok {
					return bad("a string")
				}
				// Fields of /etc/passwd and /etc/shadow lines.
				if strings.ContainsAny(str, ":\n\x00") {
					return fmt.Errorf("%s: %s: %q holds a colon, a newline or a NUL byte, which /etc/passwd cannot", u.Name, k, str)
				}
				switch k {
				case "group":
					u.Group = str
				case "home", "shell":
					if err := runtime.CheckGuestPath(str); err != nil {
						return fmt.Errorf("%s: %s: %w", u.Name, k, err)
					}
					if k == "home" {
						u.Home = str
					} else {
						u.Shell = str
					}
				case "description":
					u.Description = str
				default:
					u.HashedPassword = str
				}
			case "groups":
				if u.Groups, err = stringList(val); err != nil {
					return fmt.Errorf("%s: groups: %w", u.Name, err)
				}
			case "system":
				b, ok := val.(starlark.Bool)
				if !ok {
					return bad("True or False")
				}
				u.System = bool(b)
			default:
				return unexpectedKey(u.Name, k, userKeys...)
			}
		}
		s.Users = append(s.Users, u)
	}
	return nil
}

// setGroups reads groups = {"name": {"gid": n, "system": bool}}.
func setGroups(s *runtime.Spec, v starlark.Value) error {
	items, err := dictItems(v, "group names to dicts")
	if err != nil {
		return err
	}
	s.Groups = nil
	for _, it := range items {
		g := runtime.Group{Name: string(it[0].(starlark.String)), GID: -1}
		if err := runtime.CheckAccountName(g.Name); err != nil {
			return err
		}
		d, ok := it[1].(*starlark.Dict)
		if !ok {
			return fmt.Errorf("%s: want a dict of gid, system (or {}), got %s", g.Name, it[1].Type())
		}
		attrs, err := dictItems(d, "group attributes")
		if err != nil {
			return fmt.Errorf("%s: %w", g.Name, err)
		}
		for _, a := range attrs {
			switch k := string(a[0].(starlark.String)); k {
			case "gid":
				if err := accountID(a[1], &g.GID); err != nil {
					return fmt.Errorf("%s: gid: want a group id %w", g.Name, err)
				}
			case "system":
				b, ok := a[1].(starlark.Bool)
				if !ok {
					return fmt.Errorf("%s: system: want True or False, got %s", g.Name, a[1].Type())
				}
				g.System = bool(b)
			default:
				return unexpectedKey(g.Name, k, "gid", "system")
			}
		}
		if slices.ContainsFunc(s.Groups, func(o runtime.Group) bool { return o.Name == g.Name }) {
			return fmt.Errorf("%s is declared twice", g.Name)
		}
		s.Groups = append(s.Groups, g)
	}
	return nil
}
