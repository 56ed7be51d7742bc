package vm

import (
	"os"
	"os/exec"
	"path/filepath"

	"github.com/vmtest/vmtest/vm/hide"
)

// viewed reports whether the machine's QEMU exports a view of the host
// root (see hide.View) rather than "/" as it is.
func (m *Machine) viewed() bool { return m.art.ViewErr == nil && m.art.Agent != "" }

// viewRoot is where the view of the machine's QEMU is mounted, in its
// mount namespace: a directory in the machine's private one, the same
// at every boot.
func (m *Machine) viewRoot() string {
	if !m.viewed() {
		return ""
	}
	return filepath.Join(m.cfg.Dir, "root")
}

// exportRoot is the directory QEMU exports as the host root: socks["root"],
// or "/". Only the host sees it: it is not part of the machine's shape.
func exportRoot(socks map[string]string) string {
	if r := socks["root"]; r != "" {
		return r
	}
	return "/"
}

// qemuCommand returns the command that runs QEMU with args: in a view of
// the host root that hides the machine's hidden paths, when the host
// allows one (the caller put viewRoot into args), else QEMU itself.
func (m *Machine) qemuCommand(args []string) (*exec.Cmd, error) {
	if !m.viewed() {
		return exec.Command(m.art.QEMU, args...), nil
	}
	if err := os.Mkdir(m.viewRoot(), 0o700); err != nil && !os.IsExist(err) {
		return nil, err
	}
	return hide.Command(m.art.Agent, m.art.QEMU, args, hide.View{Root: m.viewRoot(), Scratch: m.cfg.Dir, Hide: m.cfg.Hide})
}
