package v4l2

import (
	"fmt"
	"strings"
)

// PixelFormat is a V4L2 pixel format code, a fourcc such as "YUYV".
type PixelFormat uint32

// The pixel formats Open can convert to I420.
const (
	YUYV  PixelFormat = 'Y' | 'U'<<8 | 'Y'<<16 | 'V'<<24 // packed 4:2:2
	NV12  PixelFormat = 'N' | 'V'<<8 | '1'<<16 | '2'<<24 // 4:2:0, interleaved chroma
	MJPEG PixelFormat = 'M' | 'J'<<8 | 'P'<<16 | 'G'<<24 // motion JPEG
)

// DefaultPreference is the order Open tries pixel formats in when none is
// configured: uncompressed first (no decoding, no compression artefacts),
// MJPEG last. A format that hits the configured frame rate still beats a
// preferred one that does not (see Open).
var DefaultPreference = []PixelFormat{YUYV, NV12, MJPEG}

// convertible reports whether Open can turn p into I420.
func (p PixelFormat) convertible() bool { return p == YUYV || p == NV12 || p == MJPEG }

// String is the name config files use (YUYV, NV12, MJPEG), or the fourcc.
func (p PixelFormat) String() string {
	if p == MJPEG {
		return "MJPEG"
	}
	b := []byte{byte(p), byte(p >> 8), byte(p >> 16), byte(p >> 24)}
	for i, c := range b {
		if c < ' ' || c > '~' {
			b[i] = '?'
		}
	}
	return strings.TrimRight(string(b), " ")
}

// ParsePixelFormat reads a pixel format name as config gives it: YUYV,
// NV12 or MJPEG (MJPG too), in any case.
func ParsePixelFormat(s string) (PixelFormat, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "YUYV":
		return YUYV, nil
	case "NV12":
		return NV12, nil
	case "MJPEG", "MJPG":
		return MJPEG, nil
	}
	return 0, fmt.Errorf("v4l2: pixel format %q is not one of YUYV, NV12, MJPEG", s)
}

// parsePreference reads the configured order; empty means
// DefaultPreference. Repeats are dropped.
func parsePreference(names []string) ([]PixelFormat, error) {
	if len(names) == 0 {
		return DefaultPreference, nil
	}
	var out []PixelFormat
	for _, n := range names {
		p, err := ParsePixelFormat(n)
		if err != nil {
			return nil, err
		}
		dup := false
		for _, q := range out {
			dup = dup || q == p
		}
		if !dup {
			out = append(out, p)
		}
	}
	return out, nil
}
