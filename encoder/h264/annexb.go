package h264

import (
	"encoding/binary"
	"errors"
)

// ErrBadAVCC is returned by SplitAVCC when a length prefix runs past the
// end of the sample.
var ErrBadAVCC = errors.New("h264: bad AVCC length")

// NAL unit types (ITU-T H.264 table 7-1) that callers act on.
const (
	NALSlice = 1 // coded slice of a non-IDR picture
	NALIDR   = 5 // coded slice of an IDR picture
	NALSEI   = 6 // supplemental enhancement information
	NALSPS   = 7 // sequence parameter set
	NALPPS   = 8 // picture parameter set
	NALAUD   = 9 // access unit delimiter
)

// SplitAnnexB returns the NAL units of an Annex-B byte stream, split at
// 3-byte (00 00 01) and 4-byte (00 00 00 01) start codes. Bytes before the
// first start code are not a NAL unit and are dropped, as are empty units.
// Trailing zero bytes belong to the next start code (trailing_zero_8bits),
// never to a NAL unit, whose last byte always holds the RBSP stop bit. The
// returned slices share b's memory.
func SplitAnnexB(b []byte) [][]byte {
	var nalus [][]byte
	start := -1 // first byte of the current NAL unit
	zeros := 0  // zero bytes seen just before i
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == 0:
			zeros++
			continue
		case b[i] == 1 && zeros >= 2:
			if start >= 0 {
				nalus = appendNALU(nalus, b[start:i-zeros])
			}
			start = i + 1
		}
		zeros = 0
	}
	if start >= 0 {
		nalus = appendNALU(nalus, b[start:])
	}
	return nalus
}

func appendNALU(nalus [][]byte, n []byte) [][]byte {
	for len(n) > 0 && n[len(n)-1] == 0 {
		n = n[:len(n)-1]
	}
	if len(n) == 0 {
		return nalus
	}
	return append(nalus, n[:len(n):len(n)])
}

// AVCC returns the NAL units each prefixed with its 4-byte big-endian
// length, the form an MP4 sample holds (avcC lengthSizeMinusOne = 3).
func AVCC(nalus [][]byte) []byte {
	n := 0
	for _, u := range nalus {
		n += 4 + len(u)
	}
	out := make([]byte, 0, n)
	for _, u := range nalus {
		out = binary.BigEndian.AppendUint32(out, uint32(len(u)))
		out = append(out, u...)
	}
	return out
}

// SplitAVCC is the inverse of AVCC: the NAL units of a sample with 4-byte
// length prefixes. It fails with ErrBadAVCC when a length runs past the end.
func SplitAVCC(b []byte) ([][]byte, error) {
	var nalus [][]byte
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, ErrBadAVCC
		}
		n := binary.BigEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-4) {
			return nil, ErrBadAVCC
		}
		nalus = append(nalus, b[4:4+n:4+n])
		b = b[4+n:]
	}
	return nalus, nil
}

// NALType is nal_unit_type, the low five bits of the NAL header; 0 (which
// H.264 leaves unspecified) for an empty unit.
func NALType(nalu []byte) byte {
	if len(nalu) == 0 {
		return 0
	}
	return nalu[0] & 0x1f
}

// IsKeyframe reports whether an access unit holds an IDR slice: a decoder
// can start there, so a player may seek to it and a segment may begin with it.
func IsKeyframe(nalus [][]byte) bool {
	for _, n := range nalus {
		if NALType(n) == NALIDR {
			return true
		}
	}
	return false
}
