package runtime

import "github.com/vmtest/vmtest/runtime/vswitch"

// DefaultSwitch is the Options.NewSwitch of a real run: the Go switch of
// runtime/vswitch, its sockets in dir.
func DefaultSwitch(dir string) Switch { return vswitch.New(dir) }

var _ Switch = (*vswitch.Switch)(nil)
