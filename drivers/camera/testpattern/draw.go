package testpattern

import (
	"fmt"
	"image"
	"time"
)

// ycc is one colour in BT.601 limited range.
type ycc struct{ y, cb, cr uint8 }

// The 75% colour bars, left to right.
var bars = [8]ycc{
	{180, 128, 128}, // white
	{162, 44, 142},  // yellow
	{131, 156, 44},  // cyan
	{112, 72, 58},   // green
	{84, 184, 198},  // magenta
	{65, 100, 212},  // red
	{35, 212, 114},  // blue
	{16, 128, 128},  // black
}

var (
	black = ycc{16, 128, 128}
	white = ycc{235, 128, 128}
	grey  = ycc{60, 128, 128}
)

// FlashDuration is how long the flash square is lit at the start of every
// elapsed second.
const FlashDuration = 100 * time.Millisecond

// Draw paints frame n of the pattern (at fps frames per second) into img,
// which must be 4:2:0 with even dimensions.
func Draw(img *image.YCbCr, n int64, fps int) {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	elapsed := time.Duration(n) * time.Second / time.Duration(fps)

	// Bars scroll left by one screen width every 8 seconds.
	shift := int((elapsed.Milliseconds() * int64(w) / 8000) % int64(w))
	yRow := img.Y[:w]
	for x := range w {
		yRow[x] = bars[((x+shift)%w)*8/w].y
	}
	for row := 1; row < h; row++ {
		copy(img.Y[row*img.YStride:row*img.YStride+w], yRow)
	}
	cw := (w + 1) / 2
	cbRow, crRow := img.Cb[:cw], img.Cr[:cw]
	for x := range cw {
		c := bars[((2*x+shift)%w)*8/w]
		cbRow[x], crRow[x] = c.cb, c.cr
	}
	for row := 1; row < (h+1)/2; row++ {
		copy(img.Cb[row*img.CStride:row*img.CStride+cw], cbRow)
		copy(img.Cr[row*img.CStride:row*img.CStride+cw], crRow)
	}

	// A box bouncing off the edges: 4 s across, 3 s down.
	side := even(h / 6)
	bx := triangle(elapsed, 4*time.Second, w-side)
	by := triangle(elapsed, 3*time.Second, h-side)
	fill(img, image.Rect(bx, by, bx+side, by+side), white)
	fill(img, image.Rect(bx+side/4, by+side/4, bx+side-side/4, by+side-side/4), black)

	// The flash square, top right.
	fs := even(h / 8)
	flash := black
	if elapsed%time.Second < FlashDuration {
		flash = white
	}
	fill(img, image.Rect(w-fs-fs/4, fs/4, w-fs/4, fs/4+fs), flash)

	// The clock, top left.
	l := newLayout(h)
	lines := clockText(n, elapsed)
	width := 0
	for _, s := range lines {
		width = max(width, l.textWidth(s))
	}
	panel := image.Rect(0, 0, min(w, width+2*l.margin), len(lines)*(l.dh+l.margin)+l.margin)
	fill(img, panel, grey)
	for i, s := range lines {
		l.drawText(img, l.margin, l.margin+i*(l.dh+l.margin), s)
	}
}

// clockText is what the clock shows for frame n.
func clockText(n int64, elapsed time.Duration) []string {
	ms := elapsed.Milliseconds()
	return []string{
		fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3600000, ms/60000%60, ms/1000%60, ms%1000),
		fmt.Sprintf("F%06d", n),
	}
}

func even(v int) int { return max(2, v&^1) }

// triangle goes 0 → span → 0 over one period.
func triangle(t, period time.Duration, span int) int {
	if span <= 0 {
		return 0
	}
	phase := t % period
	half := period / 2
	var p time.Duration
	if phase < half {
		p = phase
	} else {
		p = period - phase
	}
	return even(int(int64(p) * int64(span) / int64(half)))
}

// fill paints r (clipped to the image) in c. Chroma covers every 2x2 block
// that r touches.
func fill(img *image.YCbCr, r image.Rectangle, c ycc) {
	r = r.Intersect(img.Rect)
	if r.Empty() {
		return
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := img.Y[y*img.YStride+r.Min.X : y*img.YStride+r.Max.X]
		for i := range row {
			row[i] = c.y
		}
	}
	for y := r.Min.Y / 2; y < (r.Max.Y+1)/2; y++ {
		o := y * img.CStride
		for x := r.Min.X / 2; x < (r.Max.X+1)/2; x++ {
			img.Cb[o+x], img.Cr[o+x] = c.cb, c.cr
		}
	}
}

// Seven-segment glyphs: bit 0 is segment a (top), then b, c, d, e, f
// clockwise, and g (middle) is bit 6.
const (
	segA = 1 << iota
	segB
	segC
	segD
	segE
	segF
	segG
)

var glyphs = map[rune]int{
	'0': segA | segB | segC | segD | segE | segF,
	'1': segB | segC,
	'2': segA | segB | segD | segE | segG,
	'3': segA | segB | segC | segD | segG,
	'4': segB | segC | segF | segG,
	'5': segA | segC | segD | segF | segG,
	'6': segA | segC | segD | segE | segF | segG,
	'7': segA | segB | segC,
	'8': segA | segB | segC | segD | segE | segF | segG,
	'9': segA | segB | segC | segD | segF | segG,
	'F': segA | segE | segF | segG,
}

// layout is the size of the seven-segment font for a picture height.
type layout struct {
	dh, dw, t, gap, margin int
}

func newLayout(h int) layout {
	dh := max(10, even(h/14))
	t := max(2, even(dh/9))
	return layout{dh: dh, dw: max(even(dh/2), 4*t), t: t, gap: t + 1, margin: t * 2}
}

// advance is the width a character takes, gap included.
func (l layout) advance(c rune) int {
	switch c {
	case ':', '.':
		return 3*l.t + l.gap
	}
	return l.dw + l.gap
}

func (l layout) textWidth(s string) int {
	w := 0
	for _, c := range s {
		w += l.advance(c)
	}
	return w - l.gap
}

// segRects are the rectangles of the seven segments of a digit at (x, y).
func (l layout) segRects(x, y int) [7]image.Rectangle {
	w, h, t := l.dw, l.dh, l.t
	mid := h / 2
	return [7]image.Rectangle{
		image.Rect(x, y, x+w, y+t),                 // a
		image.Rect(x+w-t, y, x+w, y+mid),           // b
		image.Rect(x+w-t, y+mid, x+w, y+h),         // c
		image.Rect(x, y+h-t, x+w, y+h),             // d
		image.Rect(x, y+mid, x+t, y+h),             // e
		image.Rect(x, y, x+t, y+mid),               // f
		image.Rect(x, y+mid-t/2, x+w, y+mid-t/2+t), // g
	}
}

func (l layout) drawText(img *image.YCbCr, x, y int, s string) {
	for _, c := range s {
		switch c {
		case ':':
			fill(img, image.Rect(x+l.t, y+l.dh/3-l.t/2, x+2*l.t, y+l.dh/3+l.t/2+l.t%2), white)
			fill(img, image.Rect(x+l.t, y+2*l.dh/3-l.t/2, x+2*l.t, y+2*l.dh/3+l.t/2+l.t%2), white)
		case '.':
			fill(img, image.Rect(x+l.t, y+l.dh-l.t, x+2*l.t, y+l.dh), white)
		default:
			bits := glyphs[c]
			for i, r := range l.segRects(x, y) {
				if bits&(1<<i) != 0 {
					fill(img, r, white)
				}
			}
		}
		x += l.advance(c)
	}
}
