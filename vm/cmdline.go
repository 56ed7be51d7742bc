package vm

import (
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/vmtest/vmtest/vm/wire"
)

// baseKernelParams make the guest boot fast and fail loudly: the serial
// console, little noise, an immediate reset on panic (which -no-reboot turns
// into QEMU exiting), and no probing of hardware the machine does not have.
// Three of them trade protections a throwaway test guest does not need for
// boot time under software emulation, measured with vmtest.trace and
// initcall_debug: rodata=off skips the W+X page-table audit (~0.2 s),
// cryptomgr.notests skips the crypto self-tests (~0.25 s), and
// mitigations=off drops page-table isolation and retpolines, which TCG
// pays for on every system call (~0.2 s of boot, and faster commands).
// A machine's kernel_params come after these and can undo them, except the
// initcall blacklist: it skips the KDF self-test (~50 ms) and the set-up of
// tracefs kprobe_events (~70 ms), which a test that needs dynamic kprobe
// events through tracefs would miss.
var baseKernelParams = []string{
	"console=ttyS0", "quiet", "panic=-1", "oops=panic",
	"i8042.noaux", "i8042.nomux", "i8042.nopnp", "i8042.dumbkbd",
	"8250.nr_uarts=1", "tsc=reliable", "no_timer_check",
	"random.trust_cpu=on",
	"rodata=off", "cryptomgr.notests", "mitigations=off",
	"initcall_blacklist=crypto_kdf108_init,init_kprobe_trace",
	// The kernel passes what it does not know to init's environment: the
	// agent's Go runtime does not preempt its goroutines with signals.
	// Under emulation a request often runs past the runtime's 10 ms time
	// slice, and a revived machine's QEMU would translate the signal
	// delivery and the runtime's handler afresh (about 400 of its 35
	// thousand translation blocks up to ready). The agent has no loops
	// that need preempting; the programs it starts get an environment of
	// their own.
	"GODEBUG=asyncpreemptoff=1",
}

// BaseKernelParams returns the kernel command line every machine starts
// with, before its own kernel_params.
func BaseKernelParams() []string { return append([]string(nil), baseKernelParams...) }

// qemuArgs is the QEMU command line for this machine. Every host-side
// endpoint is a unix socket in the machine's private directory that vmtest
// listens on and QEMU connects to; no TCP port is opened. socks["root"]
// is the directory exported as the host root ("" for "/").
func (m *Machine) qemuArgs(socks map[string]string, fwds []Forward) []string {
	c := m.cfg
	a := []string{
		"-name", c.Name,
		"-M", "q35",
		"-nodefaults", "-no-user-config",
		"-display", "none",
		"-no-reboot",
		"-m", fmt.Sprint(c.Memory),
		"-smp", fmt.Sprint(c.CPUs),
	}
	a = append(a, m.art.AccelArgs...)
	if m.art.Firmware != "" {
		a = append(a, "-bios", m.art.Firmware)
	}
	params := BaseKernelParams()
	if m.art.TSCKHz > 0 {
		params = append(params, fmt.Sprintf("tsc_early_khz=%d", m.art.TSCKHz))
	}
	params = append(params, c.KernelParams...)
	a = append(a,
		"-kernel", m.art.Kernel,
		"-initrd", m.initramfs(),
		"-append", strings.Join(params, " "),
		"-chardev", "socket,id=con,path="+optValue(socks["console"]),
		"-serial", "chardev:con",
		"-chardev", "socket,id=qmp,path="+optValue(socks["qmp"]),
		"-mon", "chardev=qmp,mode=control",
		"-device", "virtio-serial-pci,id=vser",
		"-chardev", "socket,id=agent,path="+optValue(socks["agent"]),
		"-device", "virtserialport,bus=vser.0,chardev=agent,name="+wire.PortName,
		// The host's root (or a view of it, see view.go), read-only;
		// multidevs=remap keeps inode numbers unique across the host's
		// mounts.
		"-fsdev", "local,id=root,path="+strings.ReplaceAll(exportRoot(socks), ",", ",,")+",security_model=none,readonly=on,multidevs=remap",
		"-device", "virtio-9p-pci,fsdev=root,mount_tag=root",
	)
	if c.Disk.Path != "" {
		// cache=unsafe: QEMU's writes reach the host page cache, so a power
		// cut (QEMU killed) loses only what the guest had not written out.
		a = append(a,
			"-drive", fmt.Sprintf("file=%s,if=none,id=disk,format=%s,cache=unsafe,discard=unmap", optValue(c.Disk.Path), c.Disk.Format),
			"-device", "virtio-blk-pci,drive=disk")
	}
	// The extra disks after it, so that the guest names them vdb, vdc, ...
	for _, x := range c.Disks {
		a = append(a,
			"-drive", fmt.Sprintf("file=%s,if=none,id=%s,format=raw,cache=unsafe,discard=unmap", strings.ReplaceAll(x.Path, ",", ",,"), x.Name),
			"-device", "virtio-blk-pci,drive="+x.Name)
	}
	// The user network is eth0: its NIC comes first on the bus.
	if c.User != nil {
		a = append(a, userNetArgs(c.User, fwds)...)
	}
	// Each NIC is a client of its switch port (the switch listens, so a
	// rebooted machine's new QEMU finds it again). romfile= skips loading
	// the PXE option ROM, which a machine booted with -kernel never runs.
	// Each sits in a PCI slot of its own, by which the agent finds it (see
	// nicSlot).
	for i, n := range c.NICs {
		id := fmt.Sprintf("n%d", i)
		a = append(a,
			"-netdev", "stream,id="+id+",server=off,addr.type=unix,addr.path="+optValue(n.Socket),
			"-device", fmt.Sprintf("virtio-net-pci,netdev=%s,mac=%s,romfile=,addr=0x%x", id, n.MAC, nicSlot(i)),
		)
	}
	// The display last, so that it does not move the automatically placed
	// devices before it to other slots.
	if c.Display {
		a = append(a, displayArgs(socks["vnc"])...)
	}
	return append(a, c.QEMUOpts...)
}

// optValue escapes a value (a path) in a QEMU option list such as
// "socket,id=con,path=P": QEMU reads ",," as a comma in it, and a lone
// comma as the start of the next option. (-kernel, -initrd and -append
// take their argument whole; so does a "file:" chardev.)
func optValue(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// initramfs is the image the machine boots with: with the display modules
// if it has a display.
func (m *Machine) initramfs() string {
	if m.cfg.Display {
		return m.art.DisplayInitramfs // Start checked that there is one
	}
	return m.art.Initramfs
}

// MaxNICs is how many NICs a machine may have: one per PCI slot from
// firstNICSlot up to the slot before the q35 chipset's own (0x1f).
const MaxNICs = 0x1f - firstNICSlot

// firstNICSlot is the PCI slot of a machine's first NIC. Devices placed
// automatically fill the slots from 1 up, so NICs at fixed slots are found
// by the agent whatever other devices a machine has (its NICs' MACs cannot
// tell them apart: see wire.Interface).
const firstNICSlot = 0x10

// nicSlot is the PCI slot of NIC i on bus 0.
func nicSlot(i int) int { return firstNICSlot + i }

// nicPCI is the PCI address of NIC i as the guest's sysfs names it.
func nicPCI(i int) string { return fmt.Sprintf("0000:00:%02x.0", nicSlot(i)) }

// entropy returns fresh random bytes for the guest's pool.
func entropy() []byte {
	b := make([]byte, 64)
	rand.Read(b)
	return b
}
