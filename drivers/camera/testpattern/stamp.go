package testpattern

import (
	"image"
	"time"
)

// The capture stamp is a strip of StampCells black or white cells along
// the bottom of the picture: StampBits bits of the capture time (Unix
// milliseconds modulo 2^StampBits, most significant bit first), then 8
// check bits. Cells are wide and the strip is tall so that the bits
// survive a low-bitrate H.264 encode; a viewer that reads it back (the
// viewer page with ?stamp=1) compares it with its own clock, which on one
// machine is the same clock: that is glass-to-glass latency.
const (
	StampBits  = 24
	StampCells = StampBits + 8
	// stampCheckXor makes an all-black or all-white strip invalid.
	stampCheckXor = 0xA5
)

// StampHeight is the height of the stamp strip for a picture h rows high.
func StampHeight(h int) int { return even(max(8, h/15)) }

// stampWord is the 32 cells of t: the time bits, then their check byte.
func stampWord(t time.Time) uint32 {
	ms := uint32(t.UnixMilli()) & (1<<StampBits - 1)
	return ms<<8 | uint32(stampCheck(ms))
}

func stampCheck(ms uint32) uint8 {
	return uint8(ms>>16) ^ uint8(ms>>8) ^ uint8(ms) ^ stampCheckXor
}

// stampCell is the horizontal extent of cell i in a picture w wide.
func stampCell(i, w int) (x0, x1 int) { return i * w / StampCells, (i + 1) * w / StampCells }

// Stamp paints the capture time t into the bottom strip of img (4:2:0).
func Stamp(img *image.YCbCr, t time.Time) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	sh := StampHeight(h)
	word := stampWord(t)
	for i := range StampCells {
		c := black
		if word&(1<<(StampCells-1-i)) != 0 {
			c = white
		}
		x0, x1 := stampCell(i, w)
		fill(img, image.Rect(img.Rect.Min.X+x0, img.Rect.Max.Y-sh, img.Rect.Min.X+x1, img.Rect.Max.Y), c)
	}
}

// ReadStamp reads back what Stamp painted (from the luma of the middle of
// each cell): the capture time in Unix milliseconds modulo 2^StampBits,
// and whether the check bits agree.
func ReadStamp(img *image.YCbCr) (ms uint32, ok bool) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	y := img.Rect.Max.Y - StampHeight(h)/2
	var word uint32
	for i := range StampCells {
		x0, x1 := stampCell(i, w)
		word <<= 1
		if img.Y[img.YOffset(img.Rect.Min.X+(x0+x1)/2, y)] >= 128 {
			word |= 1
		}
	}
	ms = word >> 8
	return ms, uint8(word) == stampCheck(ms)
}

// StampAge is how long before now a stamp of ms was painted, assuming
// it was less than 2^StampBits milliseconds (about 4.6 hours) ago.
func StampAge(ms uint32, now time.Time) time.Duration {
	d := (uint32(now.UnixMilli()) - ms) & (1<<StampBits - 1)
	return time.Duration(d) * time.Millisecond
}
