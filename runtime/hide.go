package runtime

import (
	"fmt"

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
	for i, s := range specs {
		var err error
		if hidden[i], stand[i], err = hide.ForMachine(root, s.Hide, s.Share, dir); err != nil {
			return nil, nil, fmt.Errorf("machine %s: %v", s.Name, err)
		}
	}
	return hidden, stand, nil
}
