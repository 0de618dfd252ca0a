package v4l2

import (
	"fmt"
	"math"
	"strings"

	"twincap/drivers/camera"
)

// FormatError says that a device does not offer the configured format, and
// what it offers instead.
type FormatError struct {
	Device string
	Want   camera.Format
	// Prefer is the configured pixel formats; nil when none was configured.
	Prefer []PixelFormat
	Offers []Offer
}

func (e *FormatError) Error() string {
	want := e.Want.String()
	if e.Prefer != nil {
		names := make([]string, len(e.Prefer))
		for i, p := range e.Prefer {
			names[i] = p.String()
		}
		want += " in " + strings.Join(names, "/")
	}
	return fmt.Sprintf("v4l2: camera %s offers %s; configured %s is not available", e.Device, describe(e.Offers), want)
}

// choice is what negotiate settles on.
type choice struct {
	pixel PixelFormat
	// interval is the frame interval to ask for; zero when the driver
	// lists no rates, so none is set.
	interval Interval
	fps      float64 // the rate expected
}

// negotiate picks, among offers of a pixel format in prefer at exactly
// want's size, the one whose rate is nearest want.FPS; on a tie the
// earlier pixel format in prefer, then the faster rate. A rate less than
// half or more than twice the configured one is not near enough, nor is an
// offer without listed rates unless nothing else fits.
// nearRate reports whether fps is near enough the configured rate to be
// taken: from half to twice it.
func nearRate(fps float64, want int) bool {
	return fps >= float64(want)/2 && fps <= float64(want)*2
}

func negotiate(path string, offers []Offer, want camera.Format, prefer []PixelFormat, configured bool) (choice, error) {
	var (
		best     choice
		bestDist = math.Inf(1)
		found    bool
	)
	for _, p := range prefer {
		for _, o := range offers {
			if o.Pixel != p || !o.Size.Fits(want.Width, want.Height) {
				continue
			}
			if len(o.Rates) == 0 {
				if !found {
					best, found = choice{pixel: p, fps: float64(want.FPS)}, true
				}
				continue
			}
			for _, r := range o.Rates {
				iv := r.nearest(want.FPS)
				fps := iv.FPS()
				if !nearRate(fps, want.FPS) {
					continue
				}
				// Strictly better only: an earlier pixel format keeps a tie,
				// except that within one format the faster rate wins.
				d := math.Abs(fps - float64(want.FPS))
				if d < bestDist || (d == bestDist && best.pixel == p && fps > best.fps) {
					best, bestDist, found = choice{pixel: p, interval: iv, fps: fps}, d, true
				}
			}
		}
	}
	if !found {
		e := &FormatError{Device: path, Want: want, Offers: offers}
		if configured {
			e.Prefer = prefer
		}
		return choice{}, e
	}
	return best, nil
}
