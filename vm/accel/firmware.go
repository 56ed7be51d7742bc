package accel

import "encoding/binary"

// The probe firmware is a 64 KiB -bios image (QEMU wants a multiple of
// 64 KiB). QEMU maps it just below 4 GiB and aliases it at 0xF0000, and the
// CPU starts at its last 16 bytes (the reset vector) in real mode.
//
// A guest that only executes real-mode code proves little. On the machine
// this was written on (KVM on a paravirtualised host without nested
// hardware virtualisation) a real-mode-only probe exits 3 under KVM in
// 60 ms, while this probe, with QEMU's default CPU model, writes 'R' and
// then hangs on entering protected mode, exactly as a Linux guest prints
// its real-mode setup messages and then hangs. So the probe goes the way a
// kernel goes: real mode → 32-bit protected mode → paging and 64-bit long
// mode, and only there writes to isa-debug-exit. Each stage writes a
// letter to the debug console port 0xe9 (R, P, L) so that a hang can be
// placed.
//
// Every byte not part of the program is hlt (0xf4), so a wild jump halts
// rather than runs off: the probe then reports a hang, never a false
// success.
const (
	firmwareSize = 64 << 10
	firmwareBase = 0xF0000 // where the image's low alias starts

	gdtOff   = 0x00 // 4 descriptors
	gdtrOff  = 0x20 // limit (2 bytes), base (4 bytes)
	codeOff  = 0x40
	resetOff = 0xFFF0

	debugExitPort = 0xf4 // -device isa-debug-exit,iobase=0xf4
	debugConPort  = 0xe9 // -debugcon
	exitValue     = 1    // QEMU exits with (exitValue<<1)|1
	ranStatus     = exitValue<<1 | 1

	// Identity-mapped page tables, in guest RAM (the firmware is ROM).
	pml4Addr = 0x1000
	pdptAddr = 0x2000
	pdAddr   = 0x3000
)

// GDT selectors.
const (
	selCode32 = 0x08
	selData   = 0x10
	selCode64 = 0x18
)

// probeFirmware returns the probe image described above.
func probeFirmware() []byte {
	img := haltFirmware()
	le := binary.LittleEndian

	// Flat 4 GiB descriptors: 32-bit code, data, 64-bit code.
	le.PutUint64(img[gdtOff+selCode32:], 0x00CF9A000000FFFF)
	le.PutUint64(img[gdtOff+selData:], 0x00CF92000000FFFF)
	le.PutUint64(img[gdtOff+selCode64:], 0x00AF9A000000FFFF)
	le.PutUint16(img[gdtrOff:], 4*8-1)
	le.PutUint32(img[gdtrOff+2:], firmwareBase+gdtOff)

	var a asm
	// Real mode, CS base 0xF0000 after the reset vector's far jump.
	a.b(0xFA)                                        // cli
	a.b(0xB0, 'R', 0xE6, debugConPort)               // mov al,'R'; out 0xe9,al
	a.b(0x66, 0x2E, 0x0F, 0x01, 0x16).w16(gdtrOff)   // lgdt dword cs:[gdtr]
	a.b(0x0F, 0x20, 0xC0)                            // mov eax,cr0
	a.b(0x0C, 0x01)                                  // or al,1 (PE)
	a.b(0x0F, 0x22, 0xC0)                            // mov cr0,eax
	a.b(0x66, 0xEA)                                  // jmp dword far selCode32:pm
	pmTarget := a.w32(0)                             // offset, patched at pm
	a.w16(selCode32)                                 // selector
	a.patch32(pmTarget, firmwareBase+codeOff+a.pc()) // pm:
	// 32-bit protected mode.
	a.b(0x66, 0xB8).w16(selData)       // mov ax,selData
	a.b(0x8E, 0xD8, 0x8E, 0xC0)        // mov ds,ax; mov es,ax
	a.b(0x8E, 0xD0)                    // mov ss,ax
	a.b(0xB0, 'P', 0xE6, debugConPort) // mov al,'P'; out 0xe9,al
	for _, e := range [][2]uint32{
		{pml4Addr, pdptAddr | 0x03}, // PML4[0] → PDPT, present+writable
		{pdptAddr, pdAddr | 0x03},   // PDPT[0] → PD
		{pdAddr, 0x83},              // PD[0] → 2 MiB page at 0, PS
	} {
		a.b(0xC7, 0x05).w32(e[0]) // mov dword [addr],
		a.w32(e[1])               //   entry
	}
	a.b(0x0F, 0x20, 0xE0, 0x83, 0xC8, 0x20, 0x0F, 0x22, 0xE0) // cr4 |= PAE
	a.b(0xB8).w32(pml4Addr)                                   // mov eax,pml4
	a.b(0x0F, 0x22, 0xD8)                                     // mov cr3,eax
	a.b(0xB9).w32(0xC0000080)                                 // mov ecx,EFER
	a.b(0x0F, 0x32)                                           // rdmsr
	a.b(0x0D).w32(0x100)                                      // or eax,LME
	a.b(0x0F, 0x30)                                           // wrmsr
	a.b(0x0F, 0x20, 0xC0)                                     // mov eax,cr0
	a.b(0x0D).w32(0x80000000)                                 // or eax,PG
	a.b(0x0F, 0x22, 0xC0)                                     // mov cr0,eax
	a.b(0xEA)                                                 // jmp far selCode64:lm
	lmTarget := a.w32(0)                                      // offset, patched at lm
	a.w16(selCode64)                                          // selector
	a.patch32(lmTarget, firmwareBase+codeOff+a.pc())          // lm:
	// 64-bit long mode.
	a.b(0xB0, 'L', 0xE6, debugConPort) // mov al,'L'; out 0xe9,al
	a.b(0x66, 0xBA).w16(debugExitPort) // mov dx,0xf4
	a.b(0xB0, exitValue)               // mov al,1
	a.b(0xEE)                          // out dx,al: QEMU exits 3
	a.b(0xF4, 0xEB, 0xFD)              // hlt; jmp $-1
	copy(img[codeOff:], a.buf)

	// Reset vector: jmp far 0xF000:codeOff.
	copy(img[resetOff:], []byte{0xEA, codeOff, 0x00, 0x00, 0xF0})
	return img
}

// haltFirmware returns an image of nothing but hlt: the CPU halts at the
// reset vector with interrupts off and QEMU never exits by itself.
func haltFirmware() []byte {
	img := make([]byte, firmwareSize)
	for i := range img {
		img[i] = 0xF4
	}
	return img
}

// asm is just enough of an assembler to lay out hand-encoded instructions
// and patch forward jump targets.
type asm struct{ buf []byte }

func (a *asm) pc() uint32 { return uint32(len(a.buf)) }

func (a *asm) b(bs ...byte) *asm { a.buf = append(a.buf, bs...); return a }

func (a *asm) w16(v uint16) *asm { a.buf = binary.LittleEndian.AppendUint16(a.buf, v); return a }

// w32 appends v and returns its offset, for patch32.
func (a *asm) w32(v uint32) int {
	off := len(a.buf)
	a.buf = binary.LittleEndian.AppendUint32(a.buf, v)
	return off
}

func (a *asm) patch32(off int, v uint32) { binary.LittleEndian.PutUint32(a.buf[off:], v) }
