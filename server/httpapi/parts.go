package httpapi

import (
	"encoding/binary"
)

// partSplitter collects a streamed segment body and calls part with each
// moof+mdat as soon as both boxes are complete, numbered from 0: the box
// cuts CMAF chunks and streams them at the live edge, and the livestream
// shows each before the segment is whole. Boxes before the first moof
// (styp, prft) go with the first part. It only watches the bytes: they
// are checked against the checksum, and stored, once the body is
// complete; anything it cannot follow (a box size out of range) ends the
// parts, never the upload.
type partSplitter struct {
	b        []byte
	part     func(n uint32, body []byte)
	start    int // where the current part begins
	off      int // the next top-level box begins here
	moof     bool
	n        uint32
	stuck    bool
	maxBytes int
}

func (p *partSplitter) Write(b []byte) (int, error) {
	p.b = append(p.b, b...)
	for !p.stuck && len(p.b)-p.off >= 8 {
		size := uint64(binary.BigEndian.Uint32(p.b[p.off:]))
		typ := string(p.b[p.off+4 : p.off+8])
		if size == 1 {
			if len(p.b)-p.off < 16 {
				break
			}
			size = binary.BigEndian.Uint64(p.b[p.off+8:])
		}
		if size < 8 || size > uint64(p.maxBytes) {
			p.stuck = true // size 0 (to the end) or nonsense: no more parts
			break
		}
		end := p.off + int(size)
		if end > len(p.b) {
			break
		}
		switch {
		case typ == "moof":
			if p.moof {
				p.stuck = true // a moof without its mdat
				break
			}
			p.moof = true
		case typ == "mdat" && p.moof:
			if p.part != nil {
				p.part(p.n, p.b[p.start:end:end])
			}
			p.n++
			p.moof = false
			p.start = end
		}
		p.off = end
	}
	return len(b), nil
}
