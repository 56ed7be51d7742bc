//go:build linux

package agent

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vmtest/vmtest/vm/wire"
)

func TestParseDevname(t *testing.T) {
	data := []byte(`# Device nodes to trigger on-demand module loading.
fuse fuse c10:229
tun net/tun c10:200
loop loop-control c10:237
bad ../../etc/passwd c1:1
odd name x10:1
blk dm b254:0
short line
`)
	got := parseDevname(data)
	want := []devNode{
		{name: "fuse", major: 10, minor: 229},
		{name: "net/tun", major: 10, minor: 200},
		{name: "loop-control", major: 10, minor: 237},
		{name: "dm", block: true, major: 254},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestApplySysctls(t *testing.T) {
	root := t.TempDir()
	conf := filepath.Join(root, "proc/sys/net/ipv6/conf/eth1")
	os.MkdirAll(conf, 0o755)
	os.WriteFile(filepath.Join(conf, "use_tempaddr"), []byte("0\n"), 0o644)
	os.MkdirAll(filepath.Join(root, "proc/sys/net/vlan/eth1.5"), 0o755)
	os.WriteFile(filepath.Join(root, "proc/sys/net/vlan/eth1.5/x"), nil, 0o644)
	err := applySysctls(root, []wire.Sysctl{{Name: "net.ipv6.conf.eth1.use_tempaddr", Value: "2"}, {Name: "net/vlan/eth1.5/x", Value: "y"}})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(conf, "use_tempaddr")); string(b) != "2\n" {
		t.Errorf("use_tempaddr = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "proc/sys/net/vlan/eth1.5/x")); string(b) != "y\n" {
		t.Errorf("a name with slashes: %q", b)
	}
	err = applySysctls(root, []wire.Sysctl{{Name: "net.ipv6.conf.eth9.use_tempaddr", Value: "2"}})
	if err == nil || err.Error() != "sysctl net.ipv6.conf.eth9.use_tempaddr: the guest's kernel has no such parameter ("+root+"/proc/sys/net/ipv6/conf/eth9/use_tempaddr)" {
		t.Errorf("a missing parameter: %v", err)
	}
	if err := applySysctls(root, []wire.Sysctl{{Name: "../../etc/x", Value: "1"}}); err == nil {
		t.Error("a name leaving /proc/sys was written")
	}
}
