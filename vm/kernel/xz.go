package kernel

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/crc64"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// The kernel's xz payloads use the x86 BCJ filter in front of LZMA2
// (scripts/xz_wrap.sh), which github.com/ulikunitz/xz's stream reader does
// not support: it handles LZMA2 alone. So this file reads the xz container
// itself (https://tukaani.org/xz/xz-file-format.txt), lets the lzma package
// decode the LZMA2 data, and undoes the BCJ filter. Parsing the container
// exactly also tells where the stream ends: the kernel build appends the
// uncompressed size after it, which a stream reader would reject as
// trailing garbage.

const maxUnpacked = 1 << 30 // no kernel is this big; refuse rather than exhaust memory

var xzMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}

var errXZTruncated = errors.New("xz stream is truncated")

const (
	filterX86   = 0x04
	filterLZMA2 = 0x21
)

// unxz decodes the first xz stream in data and ignores anything after it.
// It supports LZMA2, optionally preceded by the x86 BCJ filter, and the
// None, CRC32, CRC64 and SHA-256 checks, all of which it verifies. sizeHint,
// if plausible, preallocates the output.
//
// It stays one function over 80 lines on purpose: it reads the stream in
// the order of the format's specification (header, blocks, index, footer),
// each bounds check next to the offset it guards, which a reader checks
// against the specification line by line.
func unxz(data []byte, sizeHint int) ([]byte, error) {
	if len(data) < 12 || !bytes.Equal(data[:6], xzMagic) {
		return nil, errors.New("no xz stream header")
	}
	flags := data[6:8]
	if crc32.ChecksumIEEE(flags) != binary.LittleEndian.Uint32(data[8:12]) {
		return nil, errors.New("xz stream header is damaged (CRC32 mismatch)")
	}
	if flags[0] != 0 || flags[1]&0xf0 != 0 {
		return nil, fmt.Errorf("xz stream flags %#x are not supported", flags)
	}
	check := flags[1] & 0x0f
	checkLen, err := xzCheckLen(check)
	if err != nil {
		return nil, err
	}

	var out bytes.Buffer
	if sizeHint > 0 && sizeHint <= maxUnpacked {
		out.Grow(sizeHint)
	}
	type record struct{ unpadded, uncompressed uint64 }
	var blocks []record
	pos := 12
	for {
		if pos >= len(data) {
			return nil, errXZTruncated
		}
		if data[pos] == 0 { // index indicator: no more blocks
			break
		}
		start := out.Len()
		n, err := xzBlock(data, pos, &out)
		if err != nil {
			return nil, err
		}
		unpadded := n
		pos += n
		for pos%4 != 0 { // block padding
			if pos >= len(data) {
				return nil, errXZTruncated
			}
			if data[pos] != 0 {
				return nil, errors.New("xz block padding is not zero")
			}
			pos++
		}
		if pos+checkLen > len(data) {
			return nil, errXZTruncated
		}
		if err := xzVerify(check, out.Bytes()[start:], data[pos:pos+checkLen]); err != nil {
			return nil, err
		}
		pos += checkLen
		blocks = append(blocks, record{uint64(unpadded + checkLen), uint64(out.Len() - start)})
	}

	// Index: indicator, record count, records, padding, CRC32.
	indexStart := pos
	p := pos + 1
	count, err := readVLI(data, &p)
	if err != nil {
		return nil, err
	}
	if count != uint64(len(blocks)) {
		return nil, fmt.Errorf("xz index lists %d blocks, the stream has %d", count, len(blocks))
	}
	for _, b := range blocks {
		unpadded, err := readVLI(data, &p)
		if err != nil {
			return nil, err
		}
		uncompressed, err := readVLI(data, &p)
		if err != nil {
			return nil, err
		}
		if unpadded != b.unpadded || uncompressed != b.uncompressed {
			return nil, errors.New("xz index does not match the blocks")
		}
	}
	for (p-indexStart)%4 != 0 {
		if p >= len(data) || data[p] != 0 {
			return nil, errors.New("xz index padding is damaged")
		}
		p++
	}
	if p+4 > len(data) {
		return nil, errXZTruncated
	}
	if crc32.ChecksumIEEE(data[indexStart:p]) != binary.LittleEndian.Uint32(data[p:]) {
		return nil, errors.New("xz index is damaged (CRC32 mismatch)")
	}
	p += 4

	// Footer: CRC32, backward size, flags, "YZ".
	if p+12 > len(data) {
		return nil, errXZTruncated
	}
	foot := data[p : p+12]
	if string(foot[10:]) != "YZ" || !bytes.Equal(foot[8:10], flags) ||
		crc32.ChecksumIEEE(foot[4:10]) != binary.LittleEndian.Uint32(foot) ||
		(uint64(binary.LittleEndian.Uint32(foot[4:]))+1)*4 != uint64(p-indexStart) {
		return nil, errors.New("xz stream footer is damaged")
	}
	return out.Bytes(), nil
}

// xzBlock decodes the block whose header starts at data[pos] onto out and
// returns the length of its header plus compressed data. Like unxz it
// follows the specification's block layout in one piece, on purpose.
func xzBlock(data []byte, pos int, out *bytes.Buffer) (int, error) {
	hlen := (int(data[pos]) + 1) * 4
	if pos+hlen > len(data) {
		return 0, errXZTruncated
	}
	h := data[pos : pos+hlen]
	if crc32.ChecksumIEEE(h[:hlen-4]) != binary.LittleEndian.Uint32(h[hlen-4:]) {
		return 0, errors.New("xz block header is damaged (CRC32 mismatch)")
	}
	bflags := h[1]
	if bflags&0x3c != 0 {
		return 0, fmt.Errorf("xz block flags %#x are not supported", bflags)
	}
	p := 2
	compressed, uncompressed := int64(-1), int64(-1)
	if bflags&0x40 != 0 {
		v, err := readVLI(h[:hlen-4], &p)
		if err != nil {
			return 0, err
		}
		compressed = int64(v)
	}
	if bflags&0x80 != 0 {
		v, err := readVLI(h[:hlen-4], &p)
		if err != nil {
			return 0, err
		}
		uncompressed = int64(v)
	}
	var (
		bcj      bool
		bcjStart uint32
		dictCap  int64 = -1
	)
	nfilters := int(bflags&3) + 1
	for i := 0; i < nfilters; i++ {
		id, err := readVLI(h[:hlen-4], &p)
		if err != nil {
			return 0, err
		}
		psize, err := readVLI(h[:hlen-4], &p)
		if err != nil {
			return 0, err
		}
		if psize > uint64(hlen-4-p) {
			return 0, errors.New("xz block header is damaged (filter properties overflow)")
		}
		props := h[p : p+int(psize)]
		p += int(psize)
		last := i == nfilters-1
		switch {
		case id == filterLZMA2 && last && len(props) == 1:
			dictCap, err = lzma.DecodeDictCap(props[0])
			if err != nil {
				return 0, fmt.Errorf("xz LZMA2 properties: %w", err)
			}
		case id == filterX86 && !last && !bcj && (len(props) == 0 || len(props) == 4):
			bcj = true
			if len(props) == 4 {
				bcjStart = binary.LittleEndian.Uint32(props)
			}
		default:
			return 0, fmt.Errorf("xz filter %#x (position %d of %d) is not supported; only LZMA2, optionally after the x86 BCJ filter, is", id, i+1, nfilters)
		}
	}
	for _, b := range h[p : hlen-4] {
		if b != 0 {
			return 0, errors.New("xz block header padding is not zero")
		}
	}
	if dictCap < lzma.MinDictCap {
		dictCap = lzma.MinDictCap
	}
	if dictCap > lzma.MaxDictCap {
		return 0, fmt.Errorf("xz dictionary of %d bytes is too large", dictCap)
	}

	src := bytes.NewReader(data[pos+hlen:])
	lr, err := lzma.Reader2Config{DictCap: int(dictCap)}.NewReader2(src)
	if err != nil {
		return 0, fmt.Errorf("xz LZMA2 data: %w", err)
	}
	start := out.Len()
	room := int64(maxUnpacked - start)
	n, err := out.ReadFrom(io.LimitReader(lr, room+1))
	if err != nil {
		if err == io.ErrUnexpectedEOF {
			return 0, errXZTruncated
		}
		return 0, fmt.Errorf("xz LZMA2 data is damaged: %w", err)
	}
	if n > room {
		return 0, fmt.Errorf("xz data unpacks to more than %d bytes", maxUnpacked)
	}
	used := int64(src.Size()) - int64(src.Len())
	if compressed >= 0 && used != compressed {
		return 0, fmt.Errorf("xz block holds %d compressed bytes, its header says %d", used, compressed)
	}
	if uncompressed >= 0 && n != uncompressed {
		return 0, fmt.Errorf("xz block unpacks to %d bytes, its header says %d", n, uncompressed)
	}
	if bcj {
		unBCJx86(out.Bytes()[start:], bcjStart)
	}
	return hlen + int(used), nil
}

func xzCheckLen(check byte) (int, error) {
	switch check {
	case 0x00:
		return 0, nil
	case 0x01:
		return 4, nil
	case 0x04:
		return 8, nil
	case 0x0a:
		return 32, nil
	}
	return 0, fmt.Errorf("xz check type %#x is not supported (only none, CRC32, CRC64 and SHA-256 are)", check)
}

func xzVerify(check byte, data, sum []byte) error {
	ok := true
	switch check {
	case 0x01:
		ok = crc32.ChecksumIEEE(data) == binary.LittleEndian.Uint32(sum)
	case 0x04:
		ok = crc64.Checksum(data, crc64.MakeTable(crc64.ECMA)) == binary.LittleEndian.Uint64(sum)
	case 0x0a:
		s := sha256.Sum256(data)
		ok = bytes.Equal(s[:], sum)
	}
	if !ok {
		return errors.New("xz data is damaged (integrity check failed)")
	}
	return nil
}

// readVLI reads an xz variable-length integer at data[*p] and advances *p.
func readVLI(data []byte, p *int) (uint64, error) {
	var v uint64
	for i := 0; i < 9; i++ {
		if *p >= len(data) {
			return 0, errXZTruncated
		}
		b := data[*p]
		*p++
		v |= uint64(b&0x7f) << (7 * i)
		if b&0x80 == 0 {
			if b == 0 && i > 0 {
				return 0, errors.New("xz integer is not minimally encoded")
			}
			return v, nil
		}
	}
	return 0, errors.New("xz integer is too long")
}

// unBCJx86 undoes the x86 branch/call/jump filter over the whole of buf, in
// place; start is the filter's start offset. The algorithm is the one of
// xz-embedded (lib/xz/xz_dec_bcj.c in Linux) applied in a single call: the
// last four bytes are left as they are, as the filter leaves them.
func unBCJx86(buf []byte, start uint32) {
	allowed := [8]bool{true, true, true, false, true, false, false, false}
	bitNum := [8]uint32{0, 1, 2, 2, 3, 3, 3, 3}
	msb := func(b byte) bool { return b == 0x00 || b == 0xff }
	if len(buf) <= 4 {
		return
	}
	prevPos := -1
	var prevMask uint32
	size := len(buf) - 4
	for i := 0; i < size; i++ {
		if buf[i]&0xfe != 0xe8 {
			continue
		}
		if d := i - prevPos; d > 3 {
			prevMask = 0
		} else {
			prevMask = (prevMask << (d - 1)) & 7
			if prevMask != 0 {
				b := buf[i+4-int(bitNum[prevMask])]
				if !allowed[prevMask] || msb(b) {
					prevPos = i
					prevMask = prevMask<<1 | 1
					continue
				}
			}
		}
		prevPos = i
		if !msb(buf[i+4]) {
			prevMask = prevMask<<1 | 1
			continue
		}
		src := binary.LittleEndian.Uint32(buf[i+1:])
		var dest uint32
		for {
			dest = src - (start + uint32(i) + 5)
			if prevMask == 0 {
				break
			}
			j := bitNum[prevMask] * 8
			if !msb(byte(dest >> (24 - j))) {
				break
			}
			src = dest ^ (1<<(32-j) - 1)
		}
		dest &= 0x01ffffff
		dest |= -(dest & 0x01000000)
		binary.LittleEndian.PutUint32(buf[i+1:], dest)
		i += 4
	}
}
