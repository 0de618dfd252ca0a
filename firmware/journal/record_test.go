package journal

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"twincap/encoder/segment"
)

// testNonce is the log nonce of the records built from recordCases.
const testNonce = 0x5eed_c0de_1234_5678

// recordCases is the one table shared by the encode/decode tests, the
// fuzz seeds (FuzzDecodeRecord, FuzzOpen) and the journal round trip.
var recordCases = []struct {
	name string
	seg  segment.Segment
}{
	{"init segment", segment.New(0, 0, 0, []byte("\x00\x00\x00\x18ftypiso6....moov"))},
	{"empty payload", segment.New(1, time.Second, 0, nil)},
	{"one byte", segment.New(2, 2*time.Second, time.Second, []byte{0xff})},
	{"payload holds a record magic", segment.New(3, 3*time.Second, time.Second, append([]byte("xx"+recMagic), make([]byte, recHeaderSize)...))},
	{"negative start", segment.New(4, -time.Millisecond, 500*time.Millisecond, []byte("pre-roll"))},
	{"max seq", segment.New(math.MaxUint64, time.Duration(math.MaxInt64), time.Duration(math.MinInt64), []byte("edge"))},
	{"200 KB", segment.New(6, 6*time.Second, time.Second, pattern(6, 200<<10))},
}

// pattern is deterministic filler that differs per seed.
func pattern(seed uint64, n int) []byte {
	b := make([]byte, n)
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

func sameSegment(t *testing.T, got, want segment.Segment) {
	t.Helper()
	if got.Seq != want.Seq || got.Start != want.Start || got.Duration != want.Duration || got.Sum != want.Sum || !bytes.Equal(got.Data, want.Data) {
		t.Fatalf("segment %d: got {seq %d start %v dur %v %d bytes sum %s}, want {seq %d start %v dur %v %d bytes sum %s}",
			want.Seq, got.Seq, got.Start, got.Duration, len(got.Data), got.Sum, want.Seq, want.Start, want.Duration, len(want.Data), want.Sum)
	}
}

func TestRecordEncodeDecode(t *testing.T) {
	for _, c := range recordCases {
		t.Run(c.name, func(t *testing.T) {
			b := appendRecord(nil, testNonce, c.seg)
			if len(b) != recHeaderSize+len(c.seg.Data) {
				t.Fatalf("encoded %d bytes, want %d", len(b), recHeaderSize+len(c.seg.Data))
			}
			// Trailing bytes (the next record) must not matter.
			got, n, err := decodeRecord(append(b, "trailing"...))
			if err != nil {
				t.Fatal(err)
			}
			if n != len(b) {
				t.Fatalf("decoded %d bytes, want %d", n, len(b))
			}
			sameSegment(t, got, c.seg)
			h, err := decodeHeader(b)
			if err != nil || h.nonce != testNonce {
				t.Fatalf("header: nonce %x, %v", h.nonce, err)
			}
		})
	}
}

// resealHeader recomputes the header CRC, so that a test reaches the
// checks behind it.
func resealHeader(b []byte) { le.PutUint32(b[80:], crc(b[:80])) }

func TestRecordDecodeRejects(t *testing.T) {
	base := recordCases[len(recordCases)-1].seg
	for _, c := range []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"empty", func(b []byte) []byte { return nil }},
		{"header cut", func(b []byte) []byte { return b[:recHeaderSize-1] }},
		{"payload cut", func(b []byte) []byte { return b[:len(b)-1] }},
		{"bad magic", func(b []byte) []byte { b[0] ^= 1; return b }},
		{"header bit flip", func(b []byte) []byte { b[20] ^= 0x10; return b }},
		{"header CRC flip", func(b []byte) []byte { b[82] ^= 1; return b }},
		{"payload bit flip", func(b []byte) []byte { b[recHeaderSize+1000] ^= 4; return b }},
		{"unknown version", func(b []byte) []byte { b[4] = 2; resealHeader(b); return b }},
		{"unknown flags", func(b []byte) []byte { b[5] = 2; resealHeader(b); return b }},
		{"a chunk's record", func(b []byte) []byte { b[5] = flagChunk; resealHeader(b); return b }},
		{"a part number on a segment", func(b []byte) []byte { b[6] = 1; resealHeader(b); return b }},
		{"length beyond MaxSize", func(b []byte) []byte { le.PutUint32(b[40:], segment.MaxSize+1); resealHeader(b); return b }},
		{"length longer than payload", func(b []byte) []byte { le.PutUint32(b[40:], uint32(len(b))); resealHeader(b); return b }},
		{"payload CRC agrees but SHA-256 does not", func(b []byte) []byte {
			b[recHeaderSize] ^= 0x80
			le.PutUint32(b[44:], crc(b[recHeaderSize:]))
			resealHeader(b)
			return b
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := c.damage(appendRecord(nil, testNonce, base))
			if s, _, err := decodeRecord(b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeRecord = segment %d, %v; want ErrCorrupt", s.Seq, err)
			}
		})
	}
}

func TestFileHeader(t *testing.T) {
	b := encodeFileHeader(testNonce)
	if n, err := decodeFileHeader(b); err != nil || n != testNonce {
		t.Fatalf("decodeFileHeader = %x, %v", n, err)
	}
	for i := range b {
		d := bytes.Clone(b)
		d[i] ^= 0x20
		if _, err := decodeFileHeader(d); !errors.Is(err, ErrCorrupt) {
			t.Errorf("byte %d flipped: %v, want ErrCorrupt", i, err)
		}
		if _, err := decodeFileHeader(b[:i]); !errors.Is(err, ErrCorrupt) {
			t.Errorf("cut at %d: %v, want ErrCorrupt", i, err)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, c := range recordCases {
		b := appendRecord(nil, testNonce, c.seg)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, n, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if err := s.Verify(); err != nil {
			t.Fatalf("decoded a segment that fails its checksum: %v", err)
		}
		if n > len(b) {
			t.Fatalf("consumed %d of %d bytes", n, len(b))
		}
		h, _ := decodeHeader(b)
		if re := appendRecord(nil, h.nonce, s); !bytes.Equal(re, b[:n]) {
			t.Fatalf("re-encoding differs from the input")
		}
	})
}
