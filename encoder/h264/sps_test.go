package h264

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// spsWriter builds SPS NAL units field by field for cases no encoder at
// hand produces (scaling lists, odd cropping, emulation prevention).
type spsWriter struct {
	b    []byte
	nbit int
}

func (w *spsWriter) bit(v uint32) {
	if w.nbit%8 == 0 {
		w.b = append(w.b, 0)
	}
	w.b[len(w.b)-1] |= byte(v&1) << (7 - w.nbit%8)
	w.nbit++
}

func (w *spsWriter) bits(v uint32, n int) {
	for i := n - 1; i >= 0; i-- {
		w.bit(v >> i)
	}
}

func (w *spsWriter) ue(v uint32) {
	x := uint64(v) + 1
	n := 0
	for x>>n > 1 {
		n++
	}
	w.bits(0, n)
	w.bits(uint32(x>>n), 1)
	w.bits(uint32(x), n)
}

func (w *spsWriter) se(v int32) {
	if v > 0 {
		w.ue(uint32(2*v - 1))
	} else {
		w.ue(uint32(-2 * v))
	}
}

// nalu ends the RBSP (stop bit) and escapes it with emulation prevention
// bytes, as an encoder does.
func (w *spsWriter) nalu() []byte {
	w.bit(1)
	out := []byte{0x67}
	zeros := 0
	for _, c := range w.b {
		if zeros >= 2 && c <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

type spsFields struct {
	profile, constraints, level byte
	chroma                      uint32 // high profiles only
	scaling                     [][]int32
	pocType                     uint32
	pocOffsets                  []int32 // pocType 1: non-ref, top-to-bottom, then the cycle
	wMBs, hMapUnits             uint32
	frameMBsOnly                bool
	crop                        []uint32
}

func buildSPS(f spsFields) []byte {
	var w spsWriter
	w.bits(uint32(f.profile), 8)
	w.bits(uint32(f.constraints), 8)
	w.bits(uint32(f.level), 8)
	w.ue(0) // seq_parameter_set_id
	if highProfile(f.profile) {
		w.ue(f.chroma)
		if f.chroma == 3 {
			w.bit(0)
		}
		w.ue(0)
		w.ue(0)
		w.bit(0)
		w.bit(b2u(f.scaling != nil))
		if f.scaling != nil {
			for _, list := range f.scaling {
				w.bit(b2u(list != nil))
				for _, d := range list {
					w.se(d)
				}
			}
		}
	}
	w.ue(0) // log2_max_frame_num_minus4
	w.ue(f.pocType)
	switch f.pocType {
	case 0:
		w.ue(2)
	case 1:
		w.bit(0)
		w.se(f.pocOffsets[0])
		w.se(f.pocOffsets[1])
		w.ue(uint32(len(f.pocOffsets) - 2))
		for _, o := range f.pocOffsets[2:] {
			w.se(o)
		}
	}
	w.ue(1) // max_num_ref_frames
	w.bit(0)
	w.ue(f.wMBs - 1)
	w.ue(f.hMapUnits - 1)
	w.bit(b2u(f.frameMBsOnly))
	if !f.frameMBsOnly {
		w.bit(0)
	}
	w.bit(1)
	w.bit(b2u(f.crop != nil))
	for _, c := range f.crop {
		w.ue(c)
	}
	w.bit(0) // vui_parameters_present_flag
	return w.nalu()
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Deltas that give a full 4×4 list and a list that switches to its default
// at once (delta_scale -8: nextScale 0).
var (
	list16  = []int32{-2, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
	list64  = func() []int32 { l := make([]int32, 64); l[0] = 8; return l }()
	useDflt = []int32{-8}
)

// spsCases is the one table behind TestParseSPS and the seeds of
// FuzzParseSPS. The hex cases are SPS units x264 wrote through ffmpeg
// (testsrc, the size and options in the name); ffprobe agrees on the sizes.
var spsCases = []struct {
	name    string
	nalu    []byte
	want    SPS // only Width, Height, ProfileIDC, ConstraintFlags, LevelIDC, ChromaFormatIDC, FrameMBsOnly compared
	wantErr bool
}{
	{"x264 320x240 baseline", mustHex("6742c00dd90141fb0110000003001000000303c0f142a480"),
		SPS{ProfileIDC: 66, ConstraintFlags: 0xc0, LevelIDC: 13, ChromaFormatIDC: 1, FrameMBsOnly: true, Width: 320, Height: 240}, false},
	{"x264 1920x1080 high cropped", mustHex("67640028acd940780227e5c044000003000400000300f03c60c658"),
		SPS{ProfileIDC: 100, LevelIDC: 40, ChromaFormatIDC: 1, FrameMBsOnly: true, Width: 1920, Height: 1080}, false},
	{"x264 322x242 main cropped", mustHex("674d400deca0a843c4446022000003000200000300781e28532c"),
		SPS{ProfileIDC: 77, ConstraintFlags: 0x40, LevelIDC: 13, ChromaFormatIDC: 1, FrameMBsOnly: true, Width: 322, Height: 242}, false},
	{"x264 176x144 4:4:4", mustHex("67f4000b919b28589d8088000003000800000301e078a14cb0"),
		SPS{ProfileIDC: 244, LevelIDC: 11, ChromaFormatIDC: 3, FrameMBsOnly: true, Width: 176, Height: 144}, false},
	{"x264 352x288 4:2:2", mustHex("677a000dbcd9416096c044000003000400000300f03c50a658"),
		SPS{ProfileIDC: 122, LevelIDC: 13, ChromaFormatIDC: 2, FrameMBsOnly: true, Width: 352, Height: 288}, false},
	{"x264 200x100 10-bit", mustHex("676e000ba6cd9434fe59f0110000030001000003003c0f142996"),
		SPS{ProfileIDC: 110, LevelIDC: 11, ChromaFormatIDC: 1, FrameMBsOnly: true, Width: 200, Height: 100}, false},
	{"x264 64x48 gray", mustHex("6764000af36511ec05b2000003000200000300781e244b2c"),
		SPS{ProfileIDC: 100, LevelIDC: 10, ChromaFormatIDC: 0, FrameMBsOnly: true, Width: 64, Height: 48}, false},
	{"x264 720x576 interlaced", mustHex("6764001facd940b424d80880000003008000001e0f8b16cb"),
		SPS{ProfileIDC: 100, LevelIDC: 31, ChromaFormatIDC: 1, FrameMBsOnly: false, Width: 720, Height: 576}, false},
	{"x264 640x360 cqm=jvt", mustHex("6764001eacd940a02ff970110000030001000003003c0f162d96"),
		SPS{ProfileIDC: 100, LevelIDC: 30, ChromaFormatIDC: 1, FrameMBsOnly: true, Width: 640, Height: 360}, false},
	{"x264 240x136 high cropped", mustHex("6764000cacd943c4fe5c0440000003004000000f03c50a6580"),
		SPS{ProfileIDC: 100, LevelIDC: 12, ChromaFormatIDC: 1, FrameMBsOnly: true, Width: 240, Height: 136}, false},
	{"scaling lists 4:2:0", buildSPS(spsFields{profile: 100, level: 40, chroma: 1,
		scaling: [][]int32{list16, nil, useDflt, list16, nil, nil, list64, useDflt},
		wMBs:    80, hMapUnits: 45, frameMBsOnly: true}),
		SPS{ProfileIDC: 100, LevelIDC: 40, ChromaFormatIDC: 1, FrameMBsOnly: true, Width: 1280, Height: 720}, false},
	{"scaling lists 4:4:4 twelve lists", buildSPS(spsFields{profile: 244, level: 30, chroma: 3,
		scaling: [][]int32{list16, list16, list16, list16, list16, list16, list64, list64, list64, useDflt, list64, nil},
		wMBs:    40, hMapUnits: 30, frameMBsOnly: true, crop: []uint32{1, 2, 3, 4}}),
		SPS{ProfileIDC: 244, LevelIDC: 30, ChromaFormatIDC: 3, FrameMBsOnly: true, Width: 640 - 3, Height: 480 - 7}, false},
	// Large offsets give long runs of zero bits, which the writer must
	// escape (the test checks that it did) and the parser must unescape.
	{"poc type 1 with emulation prevention", buildSPS(spsFields{profile: 77, level: 31,
		pocType: 1, pocOffsets: []int32{1 << 20, -(1 << 20), 0, 0, 1 << 24, 7},
		wMBs: 45, hMapUnits: 18, frameMBsOnly: false, crop: []uint32{0, 0, 0, 2}}),
		SPS{ProfileIDC: 77, LevelIDC: 31, ChromaFormatIDC: 1, FrameMBsOnly: false, Width: 720, Height: 576 - 8}, false},
	{"poc type 2 baseline", buildSPS(spsFields{profile: 66, constraints: 0xe0, level: 20, pocType: 2,
		wMBs: 11, hMapUnits: 9, frameMBsOnly: true, crop: []uint32{0, 8, 0, 0}}),
		SPS{ProfileIDC: 66, ConstraintFlags: 0xe0, LevelIDC: 20, ChromaFormatIDC: 1, FrameMBsOnly: true, Width: 176 - 16, Height: 144}, false},

	{"empty", nil, SPS{}, true},
	{"not an SPS", mustHex("68ce3c80"), SPS{}, true},
	{"truncated", mustHex("67640028acd9"), SPS{}, true},
	{"all ones", bytes.Repeat([]byte{0xff}, 32), SPS{}, true},
	{"exp-Golomb too long", append([]byte{0x67, 0x42, 0, 0x1e}, make([]byte, 12)...), SPS{}, true},
	{"crop eats the picture", buildSPS(spsFields{profile: 66, level: 10, wMBs: 2, hMapUnits: 2, frameMBsOnly: true, crop: []uint32{8, 8, 0, 0}}), SPS{}, true},
	{"huge crop", buildSPS(spsFields{profile: 66, level: 10, wMBs: 2, hMapUnits: 2, frameMBsOnly: true, crop: []uint32{0, 0, 0, 1<<32 - 2}}), SPS{}, true},
	{"too many macroblocks", buildSPS(spsFields{profile: 66, level: 10, wMBs: 1 << 20, hMapUnits: 2, frameMBsOnly: true}), SPS{}, true},
	{"bad poc type", buildSPS(spsFields{profile: 66, level: 10, pocType: 3, wMBs: 2, hMapUnits: 2, frameMBsOnly: true}), SPS{}, true},
	{"bad chroma format", buildSPS(spsFields{profile: 100, level: 10, chroma: 4, wMBs: 2, hMapUnits: 2, frameMBsOnly: true}), SPS{}, true},
}

func TestParseSPS(t *testing.T) {
	for _, tc := range spsCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSPS(tc.nalu)
			if tc.wantErr {
				if !errors.Is(err, ErrBadSPS) {
					t.Fatalf("ParseSPS(%x) = %+v, %v; want ErrBadSPS", tc.nalu, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSPS(%x): %v", tc.nalu, err)
			}
			w := tc.want
			if got.Width != w.Width || got.Height != w.Height || got.ProfileIDC != w.ProfileIDC ||
				got.ConstraintFlags != w.ConstraintFlags || got.LevelIDC != w.LevelIDC ||
				got.ChromaFormatIDC != w.ChromaFormatIDC || got.FrameMBsOnly != w.FrameMBsOnly {
				t.Fatalf("ParseSPS = %+v, want %+v", got, w)
			}
		})
	}
}

// The emulation prevention case is only worth having if it has one.
func TestSPSCaseIsEscaped(t *testing.T) {
	for _, tc := range spsCases {
		if tc.name == "poc type 1 with emulation prevention" && !bytes.Contains(tc.nalu, []byte{0, 0, 3}) {
			t.Fatalf("%s: %x has no emulation prevention byte", tc.name, tc.nalu)
		}
	}
}

func TestUnescape(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     []byte
		want   []byte
		shared bool // no byte removed: the input comes back as is
	}{
		{"nothing to do", []byte{1, 2, 0, 0, 1}, []byte{1, 2, 0, 0, 1}, true},
		{"one", []byte{0, 0, 3, 1}, []byte{0, 0, 1}, false},
		{"two in a row", []byte{0, 0, 3, 0, 0, 3, 0}, []byte{0, 0, 0, 0, 0}, false},
		{"03 after one zero stays", []byte{5, 0, 3, 0}, []byte{5, 0, 3, 0}, true},
		{"at the end", []byte{7, 0, 0, 3}, []byte{7, 0, 0}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Unescape(tc.in)
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("Unescape(%x) = %x, want %x", tc.in, got, tc.want)
			}
			if shared := len(got) > 0 && &got[0] == &tc.in[0]; shared != tc.shared {
				t.Fatalf("shares input = %v, want %v", shared, tc.shared)
			}
		})
	}
}

func FuzzParseSPS(f *testing.F) {
	for _, tc := range spsCases {
		f.Add(tc.nalu)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSPS(b)
		if err != nil {
			if !errors.Is(err, ErrBadSPS) {
				t.Fatalf("error %v does not wrap ErrBadSPS", err)
			}
			return
		}
		if s.Width <= 0 || s.Height <= 0 || s.Width > 16*maxMBsPerSide || s.Height > 16*maxMBsPerSide {
			t.Fatalf("ParseSPS(%x) gave %d×%d", b, s.Width, s.Height)
		}
	})
}
