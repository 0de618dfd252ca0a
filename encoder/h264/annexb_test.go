package h264

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// annexBCases is the one table behind TestSplitAnnexB, TestAVCC and the
// seeds of FuzzSplitAnnexB.
var annexBCases = []struct {
	name   string
	stream []byte
	want   [][]byte
}{
	{"empty", nil, nil},
	{"no start code", []byte{0x67, 0x42, 0x00}, nil},
	{"4-byte start codes", []byte{0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xce}, [][]byte{{0x67, 0x42}, {0x68, 0xce}}},
	{"3-byte start codes", []byte{0, 0, 1, 0x65, 0x88, 0, 0, 1, 0x41, 0x9a}, [][]byte{{0x65, 0x88}, {0x41, 0x9a}}},
	{"mixed start codes", []byte{0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x67, 0x64, 0, 0, 0, 1, 0x65, 0xb8}, [][]byte{{0x09, 0xf0}, {0x67, 0x64}, {0x65, 0xb8}}},
	{"garbage before first start code", []byte{0xff, 0x12, 0, 0, 1, 0x65, 0x01}, [][]byte{{0x65, 0x01}}},
	{"trailing zero bytes", []byte{0, 0, 1, 0x65, 0x80, 0, 0, 0, 0}, [][]byte{{0x65, 0x80}}},
	{"leading zero bytes", []byte{0, 0, 0, 0, 0, 0, 1, 0x41, 0x80}, [][]byte{{0x41, 0x80}}},
	{"empty NAL units dropped", []byte{0, 0, 1, 0, 0, 1, 0x41, 0x80, 0, 0, 1}, [][]byte{{0x41, 0x80}}},
	{"emulation prevention kept", []byte{0, 0, 1, 0x65, 0, 0, 3, 1, 0x80}, [][]byte{{0x65, 0, 0, 3, 1, 0x80}}},
	{"start code only", []byte{0, 0, 0, 1}, nil},
}

func TestSplitAnnexB(t *testing.T) {
	for _, tc := range annexBCases {
		t.Run(tc.name, func(t *testing.T) {
			got := SplitAnnexB(tc.stream)
			if !slices.EqualFunc(got, tc.want, bytes.Equal) {
				t.Fatalf("SplitAnnexB = %x, want %x", got, tc.want)
			}
		})
	}
}

func TestAVCC(t *testing.T) {
	for _, tc := range annexBCases {
		t.Run(tc.name, func(t *testing.T) {
			avcc := AVCC(tc.want)
			wantLen := 0
			for _, n := range tc.want {
				wantLen += 4 + len(n)
			}
			if len(avcc) != wantLen {
				t.Fatalf("len(AVCC) = %d, want %d", len(avcc), wantLen)
			}
			back, err := SplitAVCC(avcc)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(back, tc.want, bytes.Equal) {
				t.Fatalf("SplitAVCC(AVCC(x)) = %x, want %x", back, tc.want)
			}
		})
	}
}

func TestSplitAVCCErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"short prefix", []byte{0, 0, 1}},
		{"length past end", []byte{0, 0, 0, 5, 1, 2}},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := SplitAVCC(tc.b); !errors.Is(err, ErrBadAVCC) {
				t.Fatalf("err = %v, want ErrBadAVCC", err)
			}
		})
	}
}

func TestIsKeyframe(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nalus [][]byte
		want  bool
	}{
		{"none", nil, false},
		{"idr after parameter sets", [][]byte{{0x67}, {0x68}, {0x65, 0x88}}, true},
		{"non-idr slice", [][]byte{{0x41, 0x9a}}, false},
		{"empty unit", [][]byte{{}}, false},
		{"sei and idr", [][]byte{{0x06, 0x05}, {0x25, 0x88}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsKeyframe(tc.nalus); got != tc.want {
				t.Fatalf("IsKeyframe = %v, want %v", got, tc.want)
			}
		})
	}
}

// joinAnnexB is the encoder side of SplitAnnexB, for the fuzzer's round trip.
func joinAnnexB(nalus [][]byte) []byte {
	var b []byte
	for _, n := range nalus {
		b = append(b, 0, 0, 0, 1)
		b = append(b, n...)
	}
	return b
}

func FuzzSplitAnnexB(f *testing.F) {
	for _, tc := range annexBCases {
		f.Add(tc.stream)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		nalus := SplitAnnexB(b)
		for _, n := range nalus {
			// What makes a NAL unit: non-empty, ends in its stop bit, and
			// holds no start code of its own.
			if len(n) == 0 || n[len(n)-1] == 0 || bytes.Contains(n, []byte{0, 0, 1}) {
				t.Fatalf("bad NAL unit %x from %x", n, b)
			}
		}
		again := SplitAnnexB(joinAnnexB(nalus))
		if !slices.EqualFunc(again, nalus, bytes.Equal) {
			t.Fatalf("split(join(split(x))) = %x, want %x", again, nalus)
		}
		back, err := SplitAVCC(AVCC(nalus))
		if err != nil || !slices.EqualFunc(back, nalus, bytes.Equal) {
			t.Fatalf("SplitAVCC(AVCC(x)) = %x, %v; want %x", back, err, nalus)
		}
		_, _ = SplitAVCC(b) // must survive arbitrary bytes too
	})
}
