package runtime

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vmtest/vmtest/vm"
	"github.com/vmtest/vmtest/vm/cache"
	"github.com/vmtest/vmtest/vm/hide"
	"github.com/vmtest/vmtest/vm/wire"
)

// hiddenPaths returns, for each machine, the paths of the host root it
// does not see and the stand-ins it gets for those it needs (see
// hide.ForMachine; none in declaration-only mode, where nothing boots).
func (n *Network) hiddenPaths(specs []Spec, root string) ([][]wire.Hidden, [][]wire.File, error) {
	dir := ""
	if !n.opts.DeclareOnly {
		var err error
		if dir, err = cache.Dir(); err != nil {
			return nil, nil, err
		}
	}
	hidden := make([][]wire.Hidden, len(specs))
	stand := make([][]wire.File, len(specs))
	// Machines that hide and share the same (most: the defaults) share
	// the answer: it looks at every home of the host.
	type answer struct {
		hidden []wire.Hidden
		stand  []wire.File
	}
	seen := map[string]answer{}
	for i, s := range specs {
		key := strings.Join(s.Hide, "\x00") + "\x01" + strings.Join(s.Share, "\x00")
		a, ok := seen[key]
		if !ok {
			var err error
			if a.hidden, a.stand, err = hide.ForMachine(root, s.Hide, s.Share, dir); err != nil {
				return nil, nil, fmt.Errorf("machine %s: %w", s.Name, err)
			}
			seen[key] = a
		}
		hidden[i], stand[i] = a.hidden, slices.Clip(a.stand)
	}
	return hidden, stand, nil
}

// warnInternet says once, in the log, what a network's machines with
// internet = True reach on this host: QEMU's user network maps its
// gateway to the host's loopback address (QEMU gives no way to turn
// that off), so they reach every service that listens on 127.0.0.1.
func (n *Network) warnInternet(specs []Spec) {
	var names []string
	for _, s := range specs {
		if s.Internet {
			names = append(names, s.Name)
		}
	}
	if len(names) == 0 || n.opts.DeclareOnly {
		return
	}
	who := "machine " + names[0] + " has internet = True: it reaches"
	if len(names) > 1 {
		who = "machines " + joinNames(names) + " have internet = True: they reach"
	}
	n.log.Printf("warning: %s this host's loopback services (127.0.0.1) at %s, and whatever the host reaches; see Trust model in SPEC.md", who, vm.UserNetGateway)
}
