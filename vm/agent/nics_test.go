//go:build linux

package agent

import (
	"slices"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/vm/wire"
)

func TestMatchNICs(t *testing.T) {
	nics := []nic{
		{name: "eth0", pci: "0000:00:04.0"}, // a NIC the host added without a slot of its own
		{name: "eth1", pci: "0000:00:10.0"},
		{name: "eth2", pci: "0000:00:11.0"},
	}
	for _, c := range []struct {
		ifs  []wire.Interface
		want []string
		err  string
	}{
		{[]wire.Interface{{PCI: "0000:00:10.0"}, {PCI: "0000:00:11.0"}}, []string{"eth1", "eth2"}, ""},
		{[]wire.Interface{{PCI: "0000:00:11.0"}, {PCI: "0000:00:10.0"}}, []string{"eth2", "eth1"}, ""},
		// Without addresses: in PCI order, skipping the NICs others name.
		{[]wire.Interface{{}, {PCI: "0000:00:10.0"}, {}}, []string{"eth0", "eth1", "eth2"}, ""},
		{[]wire.Interface{{PCI: "0000:00:04.0"}, {}}, []string{"eth0", "eth1"}, ""},
		{[]wire.Interface{{PCI: "0000:00:12.0"}}, nil, "no virtio network interface at PCI address 0000:00:12.0"},
		{[]wire.Interface{{}, {}, {}, {}}, nil, "want 4 virtio network interfaces, found 3"},
	} {
		got, err := match(c.ifs, nics)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("match(%+v) = %v, %v; want error %q", c.ifs, got, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("match(%+v) = %v, %v; want %v", c.ifs, got, err, c.want)
		}
	}
}
