package h264

import (
	"errors"
	"fmt"
)

// ErrBadSPS is returned by ParseSPS for bytes that are not a sequence
// parameter set it can read.
var ErrBadSPS = errors.New("h264: bad SPS")

// SPS holds the fields of a sequence parameter set that a container needs.
type SPS struct {
	ProfileIDC      byte // profile_idc: 66 baseline, 77 main, 100 high, ...
	ConstraintFlags byte // constraint_set0..5 flags and reserved bits, as one byte
	LevelIDC        byte // level_idc: level × 10
	ID              uint32

	ChromaFormatIDC      uint32 // 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4
	SeparateColourPlane  bool
	BitDepthLumaMinus8   uint32
	BitDepthChromaMinus8 uint32
	FrameMBsOnly         bool // false: the stream may hold fields (interlaced)

	// Width and Height are the displayed picture size in pixels, after
	// frame cropping.
	Width, Height int
}

// Limits that keep hostile input from producing sizes nobody can decode.
// Level 6.2 allows at most 139264 macroblocks per frame, i.e. 8192×4320 at
// most in practice; 1<<14 pixels per side leaves room without overflow.
const (
	maxMBsPerSide       = 1 << 10
	maxPOCCycle         = 255 // num_ref_frames_in_pic_order_cnt_cycle (7.4.2.1.1)
	maxSPSID            = 31
	maxBitDepthMinus8   = 6
	maxLog2Minus4       = 12
	maxChromaFormatIDC  = 3
	maxPicOrderCntType  = 2
	maxScalingListDelta = 127
)

// highProfiles carry chroma format, bit depth and scaling lists in the SPS
// (7.3.2.1.1).
func highProfile(p byte) bool {
	switch p {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		return true
	}
	return false
}

// ParseSPS reads a sequence parameter set NAL unit, header byte included
// and start code excluded, as it appears in an Annex-B stream or an avcC
// box. It reads up to the frame cropping fields and ignores the VUI.
func ParseSPS(nalu []byte) (SPS, error) {
	var s SPS
	if len(nalu) < 4 {
		return s, fmt.Errorf("%w: %d bytes", ErrBadSPS, len(nalu))
	}
	if t := NALType(nalu); t != NALSPS {
		return s, fmt.Errorf("%w: NAL type %d", ErrBadSPS, t)
	}
	r := bitReader{b: Unescape(nalu[1:])}
	s.ProfileIDC = byte(r.bits(8))
	s.ConstraintFlags = byte(r.bits(8))
	s.LevelIDC = byte(r.bits(8))
	s.ID = r.ue()
	if s.ID > maxSPSID {
		return s, fmt.Errorf("%w: seq_parameter_set_id %d", ErrBadSPS, s.ID)
	}
	s.ChromaFormatIDC = 1 // inferred when absent
	if highProfile(s.ProfileIDC) {
		s.ChromaFormatIDC = r.ue()
		if s.ChromaFormatIDC > maxChromaFormatIDC {
			return s, fmt.Errorf("%w: chroma_format_idc %d", ErrBadSPS, s.ChromaFormatIDC)
		}
		if s.ChromaFormatIDC == 3 {
			s.SeparateColourPlane = r.flag()
		}
		s.BitDepthLumaMinus8 = r.ue()
		s.BitDepthChromaMinus8 = r.ue()
		if s.BitDepthLumaMinus8 > maxBitDepthMinus8 || s.BitDepthChromaMinus8 > maxBitDepthMinus8 {
			return s, fmt.Errorf("%w: bit depth %d/%d", ErrBadSPS, s.BitDepthLumaMinus8+8, s.BitDepthChromaMinus8+8)
		}
		r.flag()      // qpprime_y_zero_transform_bypass_flag
		if r.flag() { // seq_scaling_matrix_present_flag
			lists := 8
			if s.ChromaFormatIDC == 3 {
				lists = 12
			}
			for i := range lists {
				if !r.flag() { // seq_scaling_list_present_flag[i]
					continue
				}
				size := 16
				if i >= 6 {
					size = 64
				}
				if err := skipScalingList(&r, size); err != nil {
					return s, err
				}
			}
		}
	}
	if v := r.ue(); v > maxLog2Minus4 {
		return s, fmt.Errorf("%w: log2_max_frame_num_minus4 %d", ErrBadSPS, v)
	}
	switch poc := r.ue(); poc {
	case 0:
		if v := r.ue(); v > maxLog2Minus4 {
			return s, fmt.Errorf("%w: log2_max_pic_order_cnt_lsb_minus4 %d", ErrBadSPS, v)
		}
	case 1:
		r.flag() // delta_pic_order_always_zero_flag
		r.se()   // offset_for_non_ref_pic
		r.se()   // offset_for_top_to_bottom_field
		n := r.ue()
		if n > maxPOCCycle {
			return s, fmt.Errorf("%w: num_ref_frames_in_pic_order_cnt_cycle %d", ErrBadSPS, n)
		}
		for range n {
			r.se() // offset_for_ref_frame[i]
		}
	case 2:
	default:
		return s, fmt.Errorf("%w: pic_order_cnt_type %d", ErrBadSPS, poc)
	}
	r.ue()   // max_num_ref_frames
	r.flag() // gaps_in_frame_num_value_allowed_flag
	wMBs := uint64(r.ue()) + 1
	hMapUnits := uint64(r.ue()) + 1
	s.FrameMBsOnly = r.flag()
	if !s.FrameMBsOnly {
		r.flag() // mb_adaptive_frame_field_flag
	}
	r.flag() // direct_8x8_inference_flag
	var cropL, cropR, cropT, cropB uint64
	if r.flag() { // frame_cropping_flag
		cropL, cropR, cropT, cropB = uint64(r.ue()), uint64(r.ue()), uint64(r.ue()), uint64(r.ue())
	}
	if r.err != nil {
		return s, fmt.Errorf("%w: %w", ErrBadSPS, r.err)
	}

	fieldFactor := uint64(1)
	if !s.FrameMBsOnly {
		fieldFactor = 2
	}
	hMBs := hMapUnits * fieldFactor
	if wMBs > maxMBsPerSide || hMBs > maxMBsPerSide {
		return s, fmt.Errorf("%w: %d×%d macroblocks", ErrBadSPS, wMBs, hMBs)
	}
	// Crop units depend on chroma subsampling (7.4.2.1.1, table 6-1):
	// cropping moves in whole chroma samples, and in field pairs.
	cropX, cropY := uint64(1), fieldFactor
	if !s.SeparateColourPlane {
		switch s.ChromaFormatIDC {
		case 1:
			cropX, cropY = 2, 2*fieldFactor
		case 2:
			cropX = 2
		}
	}
	w, h := wMBs*16, hMBs*16
	// Compare before multiplying so huge crop values cannot overflow.
	if cropL > w || cropR > w || cropT > h || cropB > h ||
		(cropL+cropR)*cropX >= w || (cropT+cropB)*cropY >= h {
		return s, fmt.Errorf("%w: cropping %d,%d,%d,%d leaves no picture of %d×%d", ErrBadSPS, cropL, cropR, cropT, cropB, w, h)
	}
	s.Width = int(w - (cropL+cropR)*cropX)
	s.Height = int(h - (cropT+cropB)*cropY)
	return s, nil
}

// skipScalingList reads scaling_list() (7.3.2.1.1.1) only to get past it:
// the container does not need the values.
func skipScalingList(r *bitReader, size int) error {
	last, next := int64(8), int64(8)
	for range size {
		if next != 0 {
			delta := r.se()
			if delta < -128 || delta > maxScalingListDelta {
				return fmt.Errorf("%w: delta_scale %d", ErrBadSPS, delta)
			}
			next = (last + delta + 256) % 256
		}
		if next != 0 {
			last = next
		}
		// next == 0 on the first entry means "use the default list";
		// afterwards it repeats the last value to the end.
	}
	return nil
}

// Unescape returns the RBSP of a NAL unit payload: every emulation
// prevention byte (the 03 in 00 00 03) removed. It copies only when there
// is something to remove.
func Unescape(b []byte) []byte {
	var out []byte
	zeros, from := 0, 0
	for i := 0; i < len(b); i++ {
		if zeros >= 2 && b[i] == 3 {
			if out == nil {
				out = make([]byte, 0, len(b))
			}
			out = append(out, b[from:i]...)
			from = i + 1
			zeros = 0
			continue
		}
		if b[i] == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	if out == nil {
		return b
	}
	return append(out, b[from:]...)
}

// errShort is the bitReader's error: the fields ran past the end.
var errShort = errors.New("truncated")

// bitReader reads an RBSP most significant bit first. The first read past
// the end sets err and every later read returns zero, so a parser can read
// a run of fields and check once.
type bitReader struct {
	b   []byte
	pos int // in bits
	err error
}

func (r *bitReader) bit() uint32 {
	if r.err != nil {
		return 0
	}
	if r.pos >= 8*len(r.b) {
		r.err = errShort
		return 0
	}
	v := r.b[r.pos/8] >> (7 - r.pos%8) & 1
	r.pos++
	return uint32(v)
}

func (r *bitReader) bits(n int) uint32 {
	var v uint32
	for range n {
		v = v<<1 | r.bit()
	}
	return v
}

func (r *bitReader) flag() bool { return r.bit() == 1 }

// ue reads an unsigned Exp-Golomb code (9.1). Codes longer than 32 bits
// are not valid in any field we read.
func (r *bitReader) ue() uint32 {
	zeros := 0
	for r.bit() == 0 {
		if r.err != nil {
			return 0
		}
		zeros++
		if zeros > 31 {
			r.err = errors.New("exp-Golomb code too long")
			return 0
		}
	}
	return uint32((uint64(1)<<zeros - 1) + uint64(r.bits(zeros)))
}

// se reads a signed Exp-Golomb code (9.1.1).
func (r *bitReader) se() int64 {
	k := int64(r.ue())
	if k%2 == 1 {
		return (k + 1) / 2
	}
	return -k / 2
}
