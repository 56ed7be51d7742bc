package builtins

import (
	"fmt"
	"path"
	"slices"

	"go.starlark.net/starlark"

	"github.com/vmtest/vmtest/runtime"
)

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
			return fmt.Errorf("%s: want a dict of %v (or {}), got %s", u.Name, userKeys, it[1].Type())
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
				if err := starlark.AsInt(val, &u.UID); err != nil || u.UID < 0 {
					return bad("a user id (int >= 0)")
				}
			case "group", "home", "shell", "description", "hashed_password":
				str, ok := starlark.AsString(val)
				if !ok {
					return bad("a string")
				}
				switch k {
				case "group":
					u.Group = str
				case "home", "shell":
					if !path.IsAbs(str) {
						return fmt.Errorf("%s: %s: %q must be an absolute path", u.Name, k, str)
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
				return unexpectedKey("users: "+u.Name, k, userKeys...)
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
				if err := starlark.AsInt(a[1], &g.GID); err != nil || g.GID < 0 {
					return fmt.Errorf("%s: gid: want a group id (int >= 0), got %s", g.Name, a[1])
				}
			case "system":
				b, ok := a[1].(starlark.Bool)
				if !ok {
					return fmt.Errorf("%s: system: want True or False, got %s", g.Name, a[1].Type())
				}
				g.System = bool(b)
			default:
				return unexpectedKey("groups: "+g.Name, k, "gid", "system")
			}
		}
		if slices.ContainsFunc(s.Groups, func(o runtime.Group) bool { return o.Name == g.Name }) {
			return fmt.Errorf("%s is declared twice", g.Name)
		}
		s.Groups = append(s.Groups, g)
	}
	return nil
}
