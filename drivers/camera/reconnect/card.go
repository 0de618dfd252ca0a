package reconnect

import (
	"image"
	"time"
)

// ycc is a colour in BT.601 limited range, as the encoder takes it.
type ycc struct{ y, cb, cr uint8 }

var (
	cardGrey  = ycc{40, 128, 128}  // the background
	cardLight = ycc{170, 128, 128} // the camera drawing
	cardRed   = ycc{81, 90, 240}   // the stroke through it
)

// unit is the line width of the card's drawing for a picture of w x h.
func unit(w, h int) int { return max(2, min(w, h)/24&^1) }

// drawCard paints the "camera lost" card: a dark grey picture with an
// outlined camera in the middle, struck through in red. No text: it needs
// no font and no language.
func drawCard(w, h int) *image.YCbCr {
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	fill(img, img.Rect, cardGrey)
	u := unit(w, h)
	body := image.Rect(w/2-5*u, h/2-3*u, w/2+5*u, h/2+3*u)
	outline(img, body, u, cardLight)
	outline(img, image.Rect(w/2-2*u, h/2-2*u, w/2+2*u, h/2+2*u), u, cardLight) // lens
	fill(img, image.Rect(body.Min.X+u, body.Min.Y-u, body.Min.X+4*u, body.Min.Y), cardLight)
	// The stroke, from the body's top left to its bottom right, a little
	// beyond.
	from, to := body.Min.Sub(image.Pt(u, u)), body.Max.Add(image.Pt(u, u))
	for y := from.Y; y < to.Y; y++ {
		x := from.X + (y-from.Y)*(to.X-from.X)/(to.Y-from.Y)
		fill(img, image.Rect(x-u, y, x+u, y+1), cardRed)
	}
	return img
}

// cardAt is a copy of card for time t: a small square in the bottom
// right corner is lit in even seconds, so a viewer sees that the stream
// is alive and the picture is not frozen.
func cardAt(card *image.YCbCr, t time.Time) *image.YCbCr {
	img := &image.YCbCr{
		Y:              append([]uint8(nil), card.Y...),
		Cb:             append([]uint8(nil), card.Cb...),
		Cr:             append([]uint8(nil), card.Cr...),
		YStride:        card.YStride,
		CStride:        card.CStride,
		SubsampleRatio: card.SubsampleRatio,
		Rect:           card.Rect,
	}
	if t.Unix()%2 == 0 {
		fill(img, blinkRect(img.Rect.Dx(), img.Rect.Dy()), cardLight)
	}
	return img
}

func blinkRect(w, h int) image.Rectangle {
	u := unit(w, h)
	return image.Rect(w-3*u, h-3*u, w-u, h-u)
}

// outline paints the border of r, th wide, inside r.
func outline(img *image.YCbCr, r image.Rectangle, th int, c ycc) {
	fill(img, image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+th), c)
	fill(img, image.Rect(r.Min.X, r.Max.Y-th, r.Max.X, r.Max.Y), c)
	fill(img, image.Rect(r.Min.X, r.Min.Y, r.Min.X+th, r.Max.Y), c)
	fill(img, image.Rect(r.Max.X-th, r.Min.Y, r.Max.X, r.Max.Y), c)
}

// fill paints r (clipped to the picture) in c; chroma covers every 2x2
// block r touches.
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
		for x := r.Min.X / 2; x < (r.Max.X+1)/2; x++ {
			img.Cb[y*img.CStride+x], img.Cr[y*img.CStride+x] = c.cb, c.cr
		}
	}
}
