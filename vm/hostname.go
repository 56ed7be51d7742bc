package vm

import "fmt"

// CheckHostname reports whether name can be a machine's host name: 1 to 63
// characters of letters, digits and '-', starting with a letter and not
// ending with '-' (RFC 1123). Upper-case letters are allowed, as NixOS
// tests name machines (routerDummyNoNat); host names compare without
// regard to case, so two machines may not differ in case alone (the
// caller checks that).
func CheckHostname(name string) error {
	if name == "" || len(name) > 63 {
		return fmt.Errorf("machine name %q must be 1 to 63 characters long", name)
	}
	for i, r := range name {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		ok := letter || i > 0 && (r >= '0' && r <= '9' || r == '-')
		if !ok {
			return fmt.Errorf("machine name %q is not a valid host name: use letters, digits and '-', starting with a letter", name)
		}
	}
	if name[len(name)-1] == '-' {
		return fmt.Errorf("machine name %q must not end with '-'", name)
	}
	return nil
}
