package vm

import "fmt"

// CheckHostname reports whether name can be a machine's host name: 1 to 63
// characters of lower-case letters, digits and '-', starting with a letter
// and not ending with '-' (RFC 1123, kept lower-case so that names match
// /etc/hosts and Starlark identifiers alike).
func CheckHostname(name string) error {
	if name == "" || len(name) > 63 {
		return fmt.Errorf("machine name %q must be 1 to 63 characters long", name)
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || i > 0 && (r >= '0' && r <= '9' || r == '-')
		if !ok {
			return fmt.Errorf("machine name %q is not a valid host name: use lower-case letters, digits and '-', starting with a letter", name)
		}
	}
	if name[len(name)-1] == '-' {
		return fmt.Errorf("machine name %q must not end with '-'", name)
	}
	return nil
}
