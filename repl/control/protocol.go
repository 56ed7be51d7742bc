// Package control is the control socket of a network that runs in the
// background (vmtest start): a Server in that process serves a
// repl.Backend (its prompt's Session) on a unix socket, and a Client in
// another process (vmtest attach, vmtest stop) is a repl.Backend that
// evaluates there.
//
// # Protocol
//
// The socket is DIR/control.sock in the run directory (mode 0700: only
// its user can connect; the server also checks the peer's uid). The
// stream is frames as in the guest protocol (package vm/wire): a 4-byte
// big-endian payload length, a 4-byte big-endian request id, a type
// byte, the payload. The client opens requests under ids it has not used
// before on the connection.
//
// Client to server:
//
//	'q' request  JSON Request: op hello, eval, complete or stop
//	'c' cancel   the eval of this id (Ctrl-C); empty payload
//	'i' input    keystrokes for the raw session of this eval; empty: the user left (Ctrl-])
//	'w' size     JSON WinSize of the client's terminal, for the raw session of this eval
//
// Server to client:
//
//	'o' output   bytes for the client's terminal, from the eval of this id
//	't' mode     JSON Mode: raw true asks the client to put its terminal in
//	             raw mode and answer with a 'w' frame (with term); false puts it back
//	'r' result   JSON Result: ends the request
//
// A connection starts with hello (the client's protocol version; attach
// true claims the prompt, which one client at a time may hold). eval and
// complete need the claim; stop does not: it stops the network, answers,
// and the server exits. A client detaches by closing its connection; a
// hello that finds the claim held by a connection whose client has
// closed it waits, a bounded time, for the server to be done with that
// connection (its eval cancelled) and claims, rather than being refused
// because the server has not yet read the end of that stream.
package control

import "github.com/vmtest/vmtest/vm/wire"

// Version is the control protocol's version; a server refuses a client
// of another.
const Version = "1"

// SocketName is the name of the control socket in a run directory.
const SocketName = "control.sock"

// Frame types of the control protocol.
const (
	typeRequest wire.Type = 'q'
	typeCancel  wire.Type = 'c'
	typeInput   wire.Type = 'i'
	typeSize    wire.Type = 'w'
	typeOutput  wire.Type = 'o'
	typeMode    wire.Type = 't'
	typeResult  wire.Type = 'r'
)

// Operations of a Request.
const (
	opHello    = "hello"
	opEval     = "eval"
	opComplete = "complete"
	opStop     = "stop"
)

// Request is the payload of a request frame.
type Request struct {
	Op string `json:"op"`
	// hello
	Version string `json:"version,omitempty"`
	Attach  bool   `json:"attach,omitempty"`
	// eval
	Src string `json:"src,omitempty"`
	// complete
	Line string `json:"line,omitempty"`
	Pos  int    `json:"pos,omitempty"`
}

// Result is the payload of a result frame.
type Result struct {
	// Error: the request failed (a refused hello, an eval without the
	// claim, a stop that could not stop everything).
	Error string `json:"error,omitempty"`
	// hello
	Info *Info `json:"info,omitempty"`
	// eval: the chunk ran without error
	OK bool `json:"ok,omitempty"`
	// complete
	Rest   []string `json:"rest,omitempty"`
	Length int      `json:"length,omitempty"`
}

// Info describes the network a server serves.
type Info struct {
	Version  string   `json:"version"`
	Test     string   `json:"test"`
	File     string   `json:"file"` // absolute
	Dir      string   `json:"dir"`  // the run directory
	PID      int      `json:"pid"`
	Machines []string `json:"machines"`
}

// Mode is the payload of a mode frame.
type Mode struct {
	Raw bool `json:"raw"`
}

// Size is the payload of a size frame: the client terminal's size, and
// in the answer to raw mode its type ($TERM).
type Size struct {
	wire.WinSize
	Term string `json:"term,omitempty"`
}
