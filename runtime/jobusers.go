package runtime

import (
	"fmt"
	"slices"
	"strconv"
)

// checkJobUsers reports a job or service whose user or group the machine
// does not have (in the host's /etc/passwd and /etc/group, with its own
// users and groups added), before anything boots. root is the host root
// the guests see.
func (s *Spec) checkJobUsers(root string) error {
	var passwd, group *etcTable
	for _, j := range s.Jobs {
		if isRoot(j.User) && isRoot(j.Group) {
			continue
		}
		if passwd == nil {
			var err error
			if passwd, group, err = s.accounts(root); err != nil {
				return err
			}
		}
		what := "job " + j.Name
		if slices.ContainsFunc(s.Services, func(svc string) bool { return ServiceName(svc) == j.Name }) {
			what = "service " + j.Name
		}
		if _, ok := passwd.get(j.User); !isRoot(j.User) && !ok && !isID(j.User) {
			return fmt.Errorf("machine %s: %v", s.Name, noSuch(what, "user", j.User, passwd.names()))
		}
		if _, ok := group.get(j.Group); !isRoot(j.Group) && !ok && !isID(j.Group) {
			return fmt.Errorf("machine %s: %v", s.Name, noSuch(what, "group", j.Group, group.names()))
		}
	}
	return nil
}

// etcTables returns /etc/passwd and /etc/group as the machine finds them
// at boot: the host's, or its files' own.
func (s *Spec) etcTables(root string) (passwd, group *etcTable, err error) {
	passwdData, err := s.hostFile(root, "/etc/passwd")
	if err != nil {
		return nil, nil, fmt.Errorf("machine %s: reading the users: %w", s.Name, err)
	}
	groupData, err := s.hostFile(root, "/etc/group")
	if err != nil {
		return nil, nil, fmt.Errorf("machine %s: reading the groups: %w", s.Name, err)
	}
	return parseEtc(passwdData), parseEtc(groupData), nil
}

// accounts returns the machine's /etc/passwd and /etc/group: etcTables,
// with its users and groups.
func (s *Spec) accounts(root string) (passwd, group *etcTable, err error) {
	if passwd, group, err = s.etcTables(root); err != nil {
		return nil, nil, err
	}
	if len(s.Users) > 0 || len(s.Groups) > 0 {
		if _, err := s.accountFiles(root, passwd, group); err != nil {
			return nil, nil, fmt.Errorf("machine %s: %w", s.Name, err)
		}
	}
	return passwd, group, nil
}

// isRoot reports whether a job's user or group is root's (or unset).
func isRoot(name string) bool { return name == "" || name == "root" || name == "0" }

// isID reports whether a user or group is given as a number.
func isID(name string) bool {
	_, err := strconv.ParseUint(name, 10, 32)
	return err == nil
}
