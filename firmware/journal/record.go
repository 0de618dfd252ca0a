package journal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"time"

	"twincap/encoder/segment"
)

// The segment log is a file header followed by records, all little-endian.
//
// File header (fileHeaderSize bytes):
//
//	0  magic    "TWCJLOG\x00"
//	8  version  u32 (1)
//	12 flags    u32 (0)
//	16 nonce    u64, random, chosen when the log is created
//	24 reserved u32 (0)
//	28 crc      u32, CRC-32C of bytes 0..28
//
// Record (recHeaderSize bytes, then length bytes of payload):
//
//	0  magic    "TCJR"
//	4  version  u8 (1)
//	5  flags    u8 (0; flagChunk in the edge log, see edge.go)
//	6  part     u16 (0; a chunk's number within its segment)
//	8  nonce    u64, the file's nonce
//	16 seq      u64
//	24 start    i64 nanoseconds
//	32 duration i64 nanoseconds
//	40 length   u32, payload bytes (at most segment.MaxSize)
//	44 dataCRC  u32, CRC-32C of the payload
//	48 sum      [32]byte, the segment's SHA-256
//	80 hdrCRC   u32, CRC-32C of bytes 0..80 (so it covers dataCRC, and
//	            through it the payload)
//
// The header has its own CRC so that the length can be trusted before the
// payload is read, and so that recovery can recognise an intact record when
// it scans past damage. The nonce ties a record to its log: bytes left in a
// reused disk block by an older journal cannot pass for one of ours.
const (
	fileMagic      = "TWCJLOG\x00"
	fileVersion    = 1
	fileHeaderSize = 32

	recMagic      = "TCJR"
	recVersion    = 1
	recHeaderSize = 84

	flagChunk = 1 // the record is a chunk of a segment (edge log), not a segment
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

var le = binary.LittleEndian

// recHeader is a decoded record header.
type recHeader struct {
	nonce   uint64
	seq     uint64
	start   int64
	dur     int64
	length  uint32
	dataCRC uint32
	sum     segment.Checksum
	flags   uint8
	part    uint16
}

func encodeFileHeader(nonce uint64) []byte {
	b := make([]byte, fileHeaderSize)
	copy(b, fileMagic)
	le.PutUint32(b[8:], fileVersion)
	le.PutUint64(b[16:], nonce)
	le.PutUint32(b[28:], crc(b[:28]))
	return b
}

func decodeFileHeader(b []byte) (nonce uint64, err error) {
	switch {
	case len(b) < fileHeaderSize:
		return 0, fmt.Errorf("%w: log header: %d bytes, want %d", ErrCorrupt, len(b), fileHeaderSize)
	case string(b[:8]) != fileMagic:
		return 0, fmt.Errorf("%w: log header: not a journal log", ErrCorrupt)
	case le.Uint32(b[28:]) != crc(b[:28]):
		return 0, fmt.Errorf("%w: log header: checksum mismatch", ErrCorrupt)
	case le.Uint32(b[8:]) != fileVersion:
		return 0, fmt.Errorf("%w: log header: unsupported version %d", ErrCorrupt, le.Uint32(b[8:]))
	case le.Uint32(b[12:]) != 0 || le.Uint32(b[24:]) != 0:
		return 0, fmt.Errorf("%w: log header: unknown flags", ErrCorrupt)
	}
	return le.Uint64(b[16:]), nil
}

// appendRecord appends the encoding of s to dst. The caller has checked
// that s.Data fits (segment.MaxSize) and matches s.Sum.
func appendRecord(dst []byte, nonce uint64, s segment.Segment) []byte {
	var h [recHeaderSize]byte
	copy(h[:], recMagic)
	h[4] = recVersion
	le.PutUint64(h[8:], nonce)
	le.PutUint64(h[16:], s.Seq)
	le.PutUint64(h[24:], uint64(s.Start))
	le.PutUint64(h[32:], uint64(s.Duration))
	le.PutUint32(h[40:], uint32(len(s.Data)))
	le.PutUint32(h[44:], crc(s.Data))
	copy(h[48:80], s.Sum[:])
	le.PutUint32(h[80:], crc(h[:80]))
	dst = append(dst, h[:]...)
	return append(dst, s.Data...)
}

// decodeHeader checks and decodes the record header at the start of b.
func decodeHeader(b []byte) (recHeader, error) {
	var h recHeader
	switch {
	case len(b) < recHeaderSize:
		return h, fmt.Errorf("%w: record header: %d bytes, want %d", ErrCorrupt, len(b), recHeaderSize)
	case string(b[:4]) != recMagic:
		return h, fmt.Errorf("%w: record header: bad magic", ErrCorrupt)
	case le.Uint32(b[80:]) != crc(b[:80]):
		return h, fmt.Errorf("%w: record header: checksum mismatch", ErrCorrupt)
	case b[4] != recVersion:
		return h, fmt.Errorf("%w: record header: unsupported version %d", ErrCorrupt, b[4])
	case b[5]&^flagChunk != 0 || (b[5] == 0 && (b[6] != 0 || b[7] != 0)):
		return h, fmt.Errorf("%w: record header: unknown flags", ErrCorrupt)
	}
	h.flags = b[5]
	h.part = le.Uint16(b[6:])
	h.nonce = le.Uint64(b[8:])
	h.seq = le.Uint64(b[16:])
	h.start = int64(le.Uint64(b[24:]))
	h.dur = int64(le.Uint64(b[32:]))
	h.length = le.Uint32(b[40:])
	h.dataCRC = le.Uint32(b[44:])
	copy(h.sum[:], b[48:80])
	if h.length > segment.MaxSize {
		return h, fmt.Errorf("%w: record header: length %d exceeds %d", ErrCorrupt, h.length, segment.MaxSize)
	}
	return h, nil
}

// checkCRC checks the payload against the header's CRC-32C: cheap enough
// to run over the whole log at recovery.
func (h recHeader) checkCRC(payload []byte) error {
	if len(payload) != int(h.length) {
		return fmt.Errorf("%w: segment %d: payload %d bytes, header says %d", ErrCorrupt, h.seq, len(payload), h.length)
	}
	if crc(payload) != h.dataCRC {
		return fmt.Errorf("%w: segment %d: payload checksum mismatch", ErrCorrupt, h.seq)
	}
	return nil
}

// check is checkCRC plus the segment's own SHA-256, which is what the
// servers verify; Read runs it before handing a segment out.
func (h recHeader) check(payload []byte) error {
	if err := h.checkCRC(payload); err != nil {
		return err
	}
	if segment.Sum(payload) != h.sum {
		return fmt.Errorf("%w: segment %d: SHA-256 mismatch", ErrCorrupt, h.seq)
	}
	return nil
}

func (h recHeader) segment(payload []byte) segment.Segment {
	return segment.Segment{
		Seq:      h.seq,
		Start:    time.Duration(h.start),
		Duration: time.Duration(h.dur),
		Data:     payload,
		Sum:      h.sum,
	}
}

// decodeRecord decodes and fully checks the record at the start of b and
// reports its encoded size. The segment's Data aliases b.
func decodeRecord(b []byte) (segment.Segment, int, error) {
	h, err := decodeHeader(b)
	if err != nil {
		return segment.Segment{}, 0, err
	}
	if h.flags != 0 {
		return segment.Segment{}, 0, fmt.Errorf("%w: segment %d: a chunk's record where a segment's belongs", ErrCorrupt, h.seq)
	}
	n := recHeaderSize + int(h.length)
	if len(b) < n {
		return segment.Segment{}, 0, fmt.Errorf("%w: segment %d: record cut short (%d of %d bytes)", ErrCorrupt, h.seq, len(b), n)
	}
	payload := b[recHeaderSize:n:n]
	if err := h.check(payload); err != nil {
		return segment.Segment{}, 0, err
	}
	return h.segment(payload), n, nil
}

// nextMagic is the offset of the next record magic in b at or after i, or -1.
func nextMagic(b []byte, i int) int {
	j := bytes.Index(b[i:], []byte(recMagic))
	if j < 0 {
		return -1
	}
	return i + j
}
