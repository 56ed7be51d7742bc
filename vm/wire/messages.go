package wire

// Operations a Request may name in its Op field.
const (
	// OpConfigure gives a freshly booted agent its identity and root: it
	// sets the clock and hostname, mounts the host root and the machine's
	// disk, builds the overlay and switches into it. Sent once, after the
	// hello event; no other operation is valid before it completes.
	OpConfigure = "configure"
	// OpExec runs a program (Argv) or a shell string (Shell, run by
	// "/bin/sh -c"), streaming its output as Stdout and Stderr frames.
	OpExec = "exec"
	// OpReadFile streams the file at Path as Stdout frames.
	OpReadFile = "read_file"
	// OpWriteFile writes the Stdin frames to Path (created with Mode,
	// parents created, replaced atomically).
	OpWriteFile = "write_file"
	// OpWaitPort waits until a TCP socket listens on Port (or, with
	// Closed, until none does), checking inside the guest.
	OpWaitPort = "wait_port"
	// OpWaitFile waits until Path exists.
	OpWaitFile = "wait_file"
	// OpSetTime sets the guest's wall clock to TimeNS.
	OpSetTime = "set_time"
	// OpPoweroff and OpReboot stop every process, sync and unmount the
	// disk, then power off or reset the machine. The Result is sent before
	// the power goes.
	OpPoweroff = "poweroff"
	OpReboot   = "reboot"
	// OpPing answers at once; it measures the round trip.
	OpPing = "ping"
)

// Request is the JSON payload of a Request frame. Which fields matter
// depends on Op; unused fields are omitted.
type Request struct {
	Op string `json:"op"`

	// exec
	Argv  []string `json:"argv,omitempty"`
	Shell string   `json:"shell,omitempty"`
	Env   []string `json:"env,omitempty"` // KEY=VALUE, added to the default environment
	Dir   string   `json:"dir,omitempty"`
	User  string   `json:"user,omitempty"` // name or numeric uid; default root
	// Stdin says the host will send Stdin frames; without it the program's
	// standard input is /dev/null.
	Stdin bool `json:"stdin,omitempty"`
	// TTY runs the program on a new terminal of this size, its session's
	// controlling terminal, for stdin, stdout and stderr alike: output
	// comes as Stdout frames, Resize frames change the size, and end of
	// input hangs the terminal up. Without Argv and Shell, the user's
	// login shell runs.
	TTY *WinSize `json:"tty,omitempty"`

	// TimeoutMS is a hint: how long the host gives the request (0: no
	// bound). The agent never ends a request by its own clock, which may
	// run fast under software emulation: the host sends a Cancel frame at
	// its deadline, and the agent then kills what the request started.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`

	// read_file, write_file, wait_file
	Path string `json:"path,omitempty"`
	Mode uint32 `json:"mode,omitempty"` // write_file permission bits; default 0644

	// wait_port
	Port   int  `json:"port,omitempty"`
	Closed bool `json:"closed,omitempty"`

	// configure, set_time
	TimeNS   int64  `json:"time_ns,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	// RootTag is the 9p mount tag of the host root; Disk the block device
	// (e.g. "vda") holding the machine's upper layer.
	RootTag string `json:"root_tag,omitempty"`
	Disk    string `json:"disk,omitempty"`
	// Hide are host paths the guest must not see: each is hidden in the
	// new root before Files are written, and stays hidden (see Hidden).
	Hide []Hidden `json:"hide,omitempty"`
	// Files are written into the new root before it is entered.
	Files []File `json:"files,omitempty"`
	// Entropy seeds the guest's random pool, credited, and the kernel's
	// generator is reseeded from it at once.
	Entropy []byte `json:"entropy,omitempty"`
	// Interfaces are configured (MAC, addresses, up) after the switch into
	// the new root; the loopback interface is always brought up.
	Interfaces []Interface `json:"interfaces,omitempty"`

	// jobs (OpJobs); the other job operations name one in Job
	Jobs []Job  `json:"jobs,omitempty"`
	Job  string `json:"job,omitempty"`
}

// Interface is a network interface the agent configures: the virtio NIC
// at PCI address PCI (e.g. "0000:00:10.0"), or, without one, the next
// virtio NIC in PCI address order that no other Interface names. The agent
// gives it MAC before bringing it up. (A NIC cannot be found by its MAC: a
// machine revived from a boot snapshot has the MACs of the machine that
// saved it.)
type Interface struct {
	MAC   string   `json:"mac"`
	Addrs []string `json:"addrs"` // CIDR, IPv4 or IPv6
	// Gateway, if set, is the IPv4 address of the default route, through
	// this interface.
	Gateway string `json:"gateway,omitempty"`
	PCI     string `json:"pci,omitempty"`
}

// File is a file the host asks the agent to create at configure time.
type File struct {
	Path string `json:"path"`
	Mode uint32 `json:"mode"` // permission bits, setuid, setgid and sticky included
	Data []byte `json:"data"`
	// Kind is "" for a regular file, FileDir for a directory (Data
	// unused) or FileSymlink for a symbolic link to Data.
	Kind string `json:"kind,omitempty"`
	// Append adds Data to the end of the file as the guest sees it
	// (created if missing), unless it already contains Data: so the same
	// boot configuration applied again changes nothing.
	Append bool `json:"append,omitempty"`
	// UID and GID own the file (default root).
	UID int `json:"uid,omitempty"`
	GID int `json:"gid,omitempty"`
}

// Hidden is a path of the host's root that the guest must not see. In
// the guest, a file is absent and a directory empty (with the mode and
// owner it has), unless the guest itself writes there: the agent leaves
// what the machine's own disk already holds at that path alone.
type Hidden struct {
	Path string `json:"path"` // absolute, no links among its parts on the host
	Dir  bool   `json:"dir,omitempty"`
}

// File kinds.
const (
	FileDir     = "dir"
	FileSymlink = "symlink"
)

// Result is the JSON payload of the Result frame that ends a request.
type Result struct {
	// Error is set when the operation itself failed (a program that could
	// not be started, a missing file, a wait that timed out); the other
	// fields are then meaningless.
	Error string `json:"error,omitempty"`

	// exec: the exit status, or 128+n with Signal set when signal n
	// killed the program.
	Exit   int    `json:"exit"`
	Signal string `json:"signal,omitempty"`

	// read_file
	Size int64  `json:"size,omitempty"`
	Mode uint32 `json:"mode,omitempty"`

	// job_status, job_wait
	Jobs []JobStatus `json:"jobs,omitempty"`
}

// Event is the JSON payload of an Event frame.
type Event struct {
	// Name is "hello" when the agent is up and waiting for configure, the
	// point at which a boot snapshot may be taken.
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	// UptimeMS is the guest's uptime when the event was sent.
	UptimeMS int64 `json:"uptime_ms,omitempty"`
	// Message carries human-readable detail (e.g. why the agent gave up).
	Message string `json:"message,omitempty"`
	// Job and State: Name "job" reports that job Job entered State (one
	// of the Job* states), with Message saying why when it failed.
	Job   string `json:"job,omitempty"`
	State string `json:"state,omitempty"`
}

// PortName is the name of the virtio-serial port that carries the protocol
// (the QEMU virtserialport's name=).
const PortName = "org.vmtest.agent"

// ProtocolVersion changes whenever a message changes incompatibly. The host
// refuses an agent that says another version.
const ProtocolVersion = "2"
