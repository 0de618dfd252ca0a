package v4l2

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"twincap/drivers/camera"
)

// Interval is a frame interval of Num/Den seconds, the way V4L2 counts
// frame rates: 1/25 is 25 frames a second.
type Interval struct{ Num, Den uint32 }

// FPS is the frame rate, 0 for a zero interval.
func (i Interval) FPS() float64 {
	if i.Num == 0 {
		return 0
	}
	return float64(i.Den) / float64(i.Num)
}

func (i Interval) String() string { return fpsText(i.FPS()) }

// fpsText prints a rate without needless digits: 25, 12.5, 29.97.
func fpsText(fps float64) string {
	return strconv.FormatFloat(math.Round(fps*100)/100, 'f', -1, 64)
}

// Rate is a frame rate a device offers at one size: a single interval
// (Min == Max), or any interval from Min (the fastest) to Max.
type Rate struct{ Min, Max Interval }

func (r Rate) single() bool { return r.Min == r.Max }

func (r Rate) String() string {
	if r.single() {
		return r.Min.String()
	}
	return r.Max.String() + "-" + r.Min.String()
}

// nearest is the interval of r closest to fps frames a second.
func (r Rate) nearest(fps int) Interval {
	switch {
	case r.single():
		return r.Min
	case float64(fps) >= r.Min.FPS():
		return r.Min
	case float64(fps) <= r.Max.FPS():
		return r.Max
	}
	return Interval{Num: 1, Den: uint32(fps)}
}

// Size is a frame size a device offers: one size (Min == Max), or a range
// in steps.
type Size struct {
	MinWidth, MaxWidth, StepWidth    int
	MinHeight, MaxHeight, StepHeight int
}

// Discrete returns the Size of exactly w x h.
func Discrete(w, h int) Size { return Size{MinWidth: w, MaxWidth: w, MinHeight: h, MaxHeight: h} }

func (s Size) single() bool { return s.MinWidth == s.MaxWidth && s.MinHeight == s.MaxHeight }

// Fits reports whether w x h is one of the sizes s stands for.
func (s Size) Fits(w, h int) bool {
	return fits(w, s.MinWidth, s.MaxWidth, s.StepWidth) && fits(h, s.MinHeight, s.MaxHeight, s.StepHeight)
}

func fits(v, lo, hi, step int) bool {
	if v < lo || v > hi {
		return false
	}
	return step <= 0 || (v-lo)%step == 0
}

func (s Size) String() string {
	if s.single() {
		return fmt.Sprintf("%dx%d", s.MaxWidth, s.MaxHeight)
	}
	return fmt.Sprintf("%d-%dx%d-%d", s.MinWidth, s.MaxWidth, s.MinHeight, s.MaxHeight)
}

// Offer is one frame size in one pixel format and the frame rates a
// device offers at it. For a range of sizes, the rates are those at the
// configured size when it fits (see Open), else at the largest.
type Offer struct {
	Pixel PixelFormat
	Size  Size
	Rates []Rate // empty: the driver lists none
}

func (o Offer) String() string { return o.Pixel.String() + " " + o.sizeText() }

// sizeText is "640x480@25/30" or "640x480" when no rate is listed.
func (o Offer) sizeText() string {
	if len(o.Rates) == 0 {
		return o.Size.String()
	}
	rs := make([]string, len(o.Rates))
	for i, r := range o.Rates {
		rs[i] = r.String()
	}
	return o.Size.String() + "@" + strings.Join(rs, "/")
}

// Device is a V4L2 capture device as Discover finds it.
type Device struct {
	Path   string
	Name   string // the card name its driver reports
	Bus    string // where it is plugged in
	Offers []Offer
}

func (d Device) String() string {
	return fmt.Sprintf("%s (%s, %s): %s", d.Path, d.Name, d.Bus, describe(d.Offers))
}

// enumerate asks dev for every pixel format, size and rate. A range of
// sizes is asked for its rates at want's size when that fits, so that
// negotiation sees the rates it would get.
func enumerate(dev device, want camera.Format) []Offer {
	var out []Offer
	for _, p := range dev.PixelFormats() {
		for _, s := range dev.FrameSizes(p) {
			w, h := s.MaxWidth, s.MaxHeight
			if !s.single() && s.Fits(want.Width, want.Height) {
				w, h = want.Width, want.Height
			}
			out = append(out, Offer{Pixel: p, Size: s, Rates: dev.FrameRates(p, w, h)})
		}
	}
	return out
}

// describe lists offers by pixel format, convertible ones first:
// "YUYV 640x480@25/30, 1280x720@25; MJPEG 1920x1080@30; also RGB3, GREY".
func describe(offers []Offer) string {
	var order []PixelFormat
	by := map[PixelFormat][]string{}
	for _, o := range offers {
		if _, ok := by[o.Pixel]; !ok {
			order = append(order, o.Pixel)
		}
		by[o.Pixel] = append(by[o.Pixel], o.sizeText())
	}
	var parts, others []string
	for _, p := range order {
		if p.convertible() {
			parts = append(parts, p.String()+" "+strings.Join(by[p], ", "))
		} else {
			others = append(others, p.String())
		}
	}
	if len(others) > 0 {
		parts = append(parts, "also "+strings.Join(others, ", ")+" (not supported)")
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "; ")
}
