package fmp4

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// boxWriter appends boxes to a buffer. A box's size is only known at its
// end, so begin leaves a placeholder that end patches.
type boxWriter struct {
	b []byte
}

func (w *boxWriter) begin(typ string) int {
	pos := len(w.b)
	w.b = append(w.b, 0, 0, 0, 0)
	w.b = append(w.b, typ...)
	return pos
}

// beginFull starts a FullBox: a box with a version and 24 bits of flags.
func (w *boxWriter) beginFull(typ string, version byte, flags uint32) int {
	pos := w.begin(typ)
	w.u32(uint32(version)<<24 | flags&0xffffff)
	return pos
}

func (w *boxWriter) end(pos int) {
	binary.BigEndian.PutUint32(w.b[pos:], uint32(len(w.b)-pos))
}

func (w *boxWriter) u8(v uint8)     { w.b = append(w.b, v) }
func (w *boxWriter) u16(v uint16)   { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *boxWriter) u32(v uint32)   { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *boxWriter) u64(v uint64)   { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *boxWriter) bytes(v []byte) { w.b = append(w.b, v...) }
func (w *boxWriter) str(v string)   { w.b = append(w.b, v...) }
func (w *boxWriter) zeros(n int)    { w.b = append(w.b, make([]byte, n)...) }
func (w *boxWriter) matrix()        { w.u32s(0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000) }
func (w *boxWriter) u32s(v ...uint32) {
	for _, x := range v {
		w.u32(x)
	}
}

// box is one box found by parseBoxes. start and end locate the whole box
// (header included) in the buffer the parse started from, which the
// fragment parser needs to resolve data offsets.
type box struct {
	typ        string
	body       []byte
	start, end int
}

// errShort is what a reader reports for a field that runs past its box.
var errShort = errors.New("truncated")

// parseBoxes splits b, which starts at offset base of the outer buffer,
// into boxes. Sizes are checked against what is left before anything is
// sliced, so a hostile size cannot reach past b. The slice it returns has
// at most len(b)/8 entries: every box takes at least its 8-byte header.
func parseBoxes(b []byte, base int) ([]box, error) {
	var boxes []box
	for off := 0; off < len(b); {
		if len(b)-off < 8 {
			return nil, fmt.Errorf("%w: %d stray bytes at %d", ErrMalformed, len(b)-off, base+off)
		}
		size := uint64(binary.BigEndian.Uint32(b[off:]))
		typ := string(b[off+4 : off+8])
		hdr := uint64(8)
		switch size {
		case 0: // to the end of the enclosing space
			size = uint64(len(b) - off)
		case 1: // 64-bit size follows the type
			if len(b)-off < 16 {
				return nil, fmt.Errorf("%w: box %q: truncated large size", ErrMalformed, printable(typ))
			}
			size = binary.BigEndian.Uint64(b[off+8:])
			hdr = 16
		}
		if size < hdr || size > uint64(len(b)-off) {
			return nil, fmt.Errorf("%w: box %q at %d: size %d does not fit in %d bytes", ErrMalformed, printable(typ), base+off, size, len(b)-off)
		}
		end := off + int(size)
		boxes = append(boxes, box{typ: typ, body: b[off+int(hdr) : end], start: base + off, end: base + end})
		off = end
	}
	return boxes, nil
}

// find returns the first box of type typ.
func find(boxes []box, typ string) (box, bool) {
	for _, b := range boxes {
		if b.typ == typ {
			return b, true
		}
	}
	return box{}, false
}

// children parses the boxes inside the first box of type typ in boxes:
// a missing container is an error, since every container we descend into
// is mandatory.
func children(boxes []box, typ string, skip int) ([]box, error) {
	b, ok := find(boxes, typ)
	if !ok {
		return nil, fmt.Errorf("%w: no %s box", ErrMalformed, typ)
	}
	if len(b.body) < skip {
		return nil, fmt.Errorf("%w: %s box: %w", ErrMalformed, typ, errShort)
	}
	return parseBoxes(b.body[skip:], b.start+(b.end-b.start-len(b.body))+skip)
}

// printable keeps a hostile box type from putting control bytes into an
// error message.
func printable(s string) string {
	out := []byte(s)
	for i, c := range out {
		if c < 0x20 || c > 0x7e {
			out[i] = '?'
		}
	}
	return string(out)
}

// fieldReader reads big-endian fields from a box body. The first read past
// the end sets err and later reads return zero, so a parser reads a run of
// fields and checks once.
type fieldReader struct {
	b   []byte
	off int
	err error
}

func (r *fieldReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.err = errShort
		return nil
	}
	v := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return v
}

func (r *fieldReader) skip(n int) { r.take(n) }

func (r *fieldReader) u8() uint8 {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *fieldReader) u16() uint16 {
	if v := r.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *fieldReader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *fieldReader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// full reads a FullBox header.
func (r *fieldReader) full() (version byte, flags uint32) {
	v := r.u32()
	return byte(v >> 24), v & 0xffffff
}

func (r *fieldReader) left() int { return len(r.b) - r.off }
